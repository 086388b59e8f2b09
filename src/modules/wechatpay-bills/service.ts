import { type Deps } from '../../deps';
import { type TradeBillRow } from '../../providers/wechatpay/trade-bill';
import { PaymentMismatch, PaymentService } from '../payments/service';
import { RefundService } from '../refunds/service';
import { type BillFinding, type BillRun } from './entities';
import { BillRepository, type NewFinding } from './repository';

const DAY_MS = 86_400_000;
const BEIJING_MS = 8 * 3600_000;
/** Bills exist for 3 months; the check looks back this many days for a day not yet done. */
export const BILL_LOOKBACK_DAYS = 3;

/** The Beijing day of a moment, yyyy-MM-dd. */
export const beijingDay = (ms: number) => new Date(ms + BEIJING_MS).toISOString().slice(0, 10);
/** [start, end) of a Beijing day in UTC. */
export function beijingDayBounds(day: string): { from: Date; to: Date } {
  const from = Date.parse(`${day}T00:00:00+08:00`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day) || Number.isNaN(from)) throw new Error(`not a day: ${day}`);
  return { from: new Date(from), to: new Date(from + DAY_MS) };
}

export interface BillCheckResult {
  run: BillRun;
  findings: BillFinding[];
}

/**
 * The daily comparison of WeChat Pay's trade bill with our orders and refunds (the merchant's 对账). Payments are
 * matched by transaction_id, refunds by out_refund_no. Money WeChat Pay holds that we lack is never credited from
 * the bill alone: our own signature-verified query must confirm it first (then it goes through the same credit path
 * as a notify, late and duplicate payments refunded as always). What cannot be repaired that way is a finding for a
 * person. Re-running a day is safe: credits and refunds are idempotent, and open findings are replaced.
 */
export class WechatPayBillService {
  private readonly repo = new BillRepository();
  private readonly payments: PaymentService;
  private readonly refunds: RefundService;

  constructor(private readonly deps: Deps) {
    this.payments = new PaymentService(deps);
    this.refunds = new RefundService(deps);
  }

  async check(day: string): Promise<BillCheckResult> {
    const { from, to } = beijingDayBounds(day);
    if (day >= beijingDay(this.deps.clock.nowMs())) throw new Error(`bill ${day}: only past days have a bill`);
    const em = this.deps.db.manager;
    await this.repo.startRun(em, day, this.now());
    let bill;
    try {
      bill = await this.deps.wechatpay.tradeBill(day);
    } catch (err) {
      await this.repo.finishRun(em, day, { state: 'FAILED', lastError: (err as Error).message.slice(0, 200), finishedAt: this.now() });
      throw err;
    }
    const all = bill?.rows ?? [];
    // A merchant number may serve other apps too: their trades are in the bill and none of our business.
    const rows = all.filter((r) => r.appId === this.deps.wechatpay.appId);
    const findings = [
      ...(await this.comparePayments(day, rows.filter((r) => r.tradeState !== 'REFUND'), from, to)),
      ...(await this.compareRefunds(day, rows.filter((r) => r.tradeState === 'REFUND'), from, to)),
    ];
    const sum = (pick: (r: TradeBillRow) => number) => rows.reduce((s, r) => s + pick(r), 0);
    await this.repo.replaceFindings(em, day, findings, this.now());
    await this.repo.finishRun(em, day, {
      state: bill || findings.length ? 'DONE' : 'EMPTY', billRows: rows.length, billPaymentFen: sum((r) => (r.tradeState === 'REFUND' ? 0 : r.orderFen)),
      billRefundFen: sum((r) => r.refundFen), findings: findings.filter((f) => f.outcome === 'open').length, lastError: null, finishedAt: this.now(),
    });
    if (all.length !== rows.length) this.deps.logger.info({ day, otherApps: all.length - rows.length }, 'trade bill: rows of other apps of the merchant skipped');
    const open = findings.filter((f) => f.outcome === 'open');
    if (open.length) this.deps.logger.error({ alert: true, day, open: open.length, kinds: [...new Set(open.map((f) => f.kind))] }, 'trade bill differs from our records: operator exception');
    return { run: (await this.repo.run(em, day))!, findings: await this.repo.findings(em, { billDate: day }) };
  }

  private async comparePayments(day: string, rows: TradeBillRow[], from: Date, to: Date): Promise<NewFinding[]> {
    const em = this.deps.db.manager;
    const ids = rows.map((r) => r.transactionId);
    const orders = new Map((await this.repo.ordersByTransaction(em, ids)).map((o) => [o.transactionId!, o]));
    const refunded = new Map((await this.repo.refundedPayments(em, ids)).map((r) => [r.transactionId, r]));
    const findings: NewFinding[] = [];
    for (const row of rows) {
      const ours = orders.get(row.transactionId)?.paidAmountFen ?? refunded.get(row.transactionId)?.totalFen;
      if (ours === undefined) findings.push(await this.creditMissing(row));
      else if (ours !== row.orderFen) {
        findings.push({ kind: 'amount-mismatch', outTradeNo: row.outTradeNo, outRefundNo: '', transactionId: row.transactionId, oursFen: ours, theirsFen: row.orderFen, outcome: 'open', detail: `账单金额与本地记录不一致 (${day})` });
      }
    }
    const inBill = new Set(ids);
    for (const order of await this.repo.paidByWechatPay(em, from, to)) {
      if (inBill.has(order.transactionId!)) continue;
      findings.push({
        kind: 'missing-there', outTradeNo: order.orderNo, outRefundNo: '', transactionId: order.transactionId, oursFen: order.paidAmountFen, theirsFen: null, outcome: 'open',
        detail: '本地记为微信支付已付款，当日账单中没有这笔交易',
      });
    }
    return findings;
  }

  /** A payment in the bill we have no record of: our own query decides; only a confirmed SUCCESS is credited. */
  private async creditMissing(row: TradeBillRow): Promise<NewFinding> {
    const base = { kind: 'missing-here' as const, outTradeNo: row.outTradeNo.slice(0, 32), outRefundNo: '', transactionId: row.transactionId, oursFen: null, theirsFen: row.orderFen };
    try {
      const tx = await this.deps.wechatpay.queryByOutTradeNo(row.outTradeNo);
      if (!tx || tx.transaction_id !== row.transactionId) return { ...base, outcome: 'open', detail: `查单结果与账单不符：${tx ? `transaction_id ${tx.transaction_id ?? '无'}` : '微信支付查无此单'}` };
      const result = await this.payments.credit(tx);
      if (result.kind === 'not-paid') return { ...base, outcome: 'open', detail: `账单有款项，查单状态为 ${result.tradeState}` };
      return { ...base, outcome: 'credited', detail: `按查单结果入账 (${result.outcome})，订单 ${result.order.orderNo}` };
    } catch (err) {
      const why = err instanceof PaymentMismatch ? `${err.reason}: ${err.message}` : (err as Error).message;
      return { ...base, outcome: 'open', detail: `无法入账：${why}` };
    }
  }

  private async compareRefunds(day: string, rows: TradeBillRow[], from: Date, to: Date): Promise<NewFinding[]> {
    const em = this.deps.db.manager;
    const ours = new Map((await this.repo.refundsByNumber(em, rows.map((r) => r.outRefundNo))).map((r) => [r.outRefundNo, r]));
    const findings: NewFinding[] = [];
    for (const row of rows) {
      const base = { outTradeNo: row.outTradeNo.slice(0, 32), outRefundNo: row.outRefundNo.slice(0, 64), transactionId: row.transactionId, theirsFen: row.refundFen };
      const mine = ours.get(row.outRefundNo);
      if (mine) {
        if (mine.amountFen !== row.refundFen) findings.push({ ...base, kind: 'refund-amount-mismatch', oursFen: mine.amountFen, outcome: 'open', detail: `退款金额与本地记录不一致 (${day})` });
        continue;
      }
      try {
        const answer = await this.deps.wechatpay.queryRefund(row.outRefundNo);
        if (!answer) findings.push({ ...base, kind: 'refund-missing-here', oursFen: null, outcome: 'open', detail: '账单中的退款查无此单' });
        else {
          const recorded = await this.refunds.apply(answer, await this.payments.orderNoOf(answer.out_trade_no));
          findings.push({ ...base, kind: 'refund-missing-here', oursFen: null, outcome: 'recorded', detail: `按查询结果补记退款 (${recorded.state})，订单 ${recorded.orderNo}` });
        }
      } catch (err) {
        findings.push({ ...base, kind: 'refund-missing-here', oursFen: null, outcome: 'open', detail: `无法补记：${(err as Error).message}` });
      }
    }
    const inBill = new Set(rows.map((r) => r.outRefundNo));
    for (const mine of await this.repo.acceptedRefunds(em, from, to)) {
      if (inBill.has(mine.outRefundNo)) continue;
      // We record a refund just before WeChat Pay accepts it: near midnight the bill may list it on the next day.
      const answer = await this.deps.wechatpay.queryRefund(mine.outRefundNo).catch(() => undefined);
      const created = answer?.create_time ? beijingDay(Date.parse(answer.create_time)) : undefined;
      if (created && created !== day) continue;
      findings.push({
        kind: 'refund-missing-there', outTradeNo: mine.outTradeNo, outRefundNo: mine.outRefundNo, transactionId: mine.transactionId, oursFen: mine.amountFen, theirsFen: null, outcome: 'open',
        detail: answer ? '微信支付有此退款，当日账单中没有' : '本地记为已受理的退款，微信支付查无此单',
      });
    }
    return findings;
  }

  /** Runs the days of the last BILL_LOOKBACK_DAYS not yet checked (the bill of yesterday exists from about 09:00). */
  async dueDays(): Promise<string[]> {
    const now = this.deps.clock.nowMs();
    const days: string[] = [];
    for (let back = BILL_LOOKBACK_DAYS; back >= 1; back--) {
      const day = beijingDay(now - back * DAY_MS);
      if (back === 1 && new Date(now + BEIJING_MS).getUTCHours() < 10) continue;
      const run = await this.repo.run(this.deps.db.manager, day);
      if (!run || run.state === 'FAILED') days.push(day);
    }
    return days;
  }

  recentRuns(limit = 14): Promise<BillRun[]> {
    return this.repo.recentRuns(this.deps.db.manager, limit);
  }

  findings(where: { billDate?: string; openOnly?: boolean }): Promise<BillFinding[]> {
    return this.repo.findings(this.deps.db.manager, where);
  }

  resolve(id: number, by: string): Promise<boolean> {
    return this.repo.resolve(this.deps.db.manager, id, by, this.now());
  }

  private now(): Date {
    return new Date(this.deps.clock.nowMs());
  }
}
