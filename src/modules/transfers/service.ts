import { In, IsNull, Not } from 'typeorm';
import { isUniqueViolation } from '../../lib/db/sql';
import { type Deps } from '../../deps';
import { inTransaction } from '../../lib/db/transaction';
import { ConflictError, ValidationError } from '../../lib/errors';
import { CertificateEntity } from '../certificates/entities';
import { OrderEntity } from '../orders/entities';
import { OrderService } from '../orders/service';
import { decide, type MatchDecision, type OpenTransferOrder, type StatementLine } from './matcher';
import { yuanToFen } from './normalise';
import { type StatementEntry, StatementEntryEntity, type TransferCode, TransferCodeEntity } from './entities';
import { drawTransferCode } from './transfer-code';
import { enqueueOrderPaidNotice, enqueueTransferRejectedNotice } from '../payments/notices';

/** How long a transfer order waits for the money to arrive (and be imported) before the sweep closes it. */
export const TRANSFER_WAIT_MS = 7 * 86_400_000;

/** What the handler is told (a template's thing field: 20 characters at most) when their transfer is not credited. */
const REJECTION_NOTICE: Record<string, string> = {
  'amount-mismatch': '汇款金额与订单金额不符',
  'name-mismatch': '付款单位与证书单位不符',
  'fiscal-payer': '不支持财政或国库账户汇款',
  'late-payment': '订单已关闭，款项将退回',
};

export interface LineOutcome {
  line: number;
  bankSerial: string;
  /** credited: the order is PAID now (or was by this very line before); skipped: the bank serial was imported before. */
  result: 'credited' | 'exception' | 'skipped';
  orderNo?: string;
  reason?: string;
  message?: string;
}

/**
 * 对公汇款: the 6-digit code an order is paid with, and the import of bank statements that credits orders.
 * Money is credited only through OrderService.markPaid (guarded by the order's state and amount), with the
 * bank serial as the transaction id, so re-importing a file, or importing it twice at once, credits nothing twice.
 */
export class TransferService {
  private readonly orders: OrderService;

  constructor(private readonly deps: Deps) {
    this.orders = new OrderService(deps);
  }

  /** The order's transfer code (drawn once; asking again returns the same one). */
  async codeFor(orderNo: string, openid: string, at: Date): Promise<TransferCode> {
    const order = await this.orders.choosePaymentMethod(orderNo, openid, 'transfer', at);
    const existing = await this.deps.db.getRepository(TransferCodeEntity).findOne({ where: { orderId: order.id } });
    if (existing) return existing;
    if (order.state !== 'PENDING_PAYMENT') throw new ConflictError('订单已支付或已关闭', `order ${orderNo} is ${order.state}`);
    const certificates = await this.deps.db.getRepository(CertificateEntity).find({ where: { id: In(order.lines.map((l) => l.certificateId)) } });
    const organizations = [...new Set(certificates.map((c) => c.organization ?? ''))];
    // One transfer comes from one account: the payer name check needs one organisation per order.
    if (organizations.length !== 1 || !organizations[0]) {
      throw new ValidationError('对公汇款只能支付同一单位的证书，请按单位分开下单', `order ${orderNo} spans ${organizations.length} organisations`);
    }
    for (let attempt = 1; ; attempt++) {
      const code = await drawTransferCode(this.deps.random, (c) => this.codeTaken(c));
      try {
        const row = { orderId: order.id, orderNo, code, openCode: code, organizationName: organizations[0], createdAt: at };
        const id = await inTransaction(this.deps.db, async (em) => {
          const result = await em.insert(TransferCodeEntity, row);
          // A bank transfer takes days, not the 2 hours a WeChat Pay order lives: the order waits for it.
          await em.update(OrderEntity, { id: order.id, state: 'PENDING_PAYMENT' }, { expiresAt: new Date(at.getTime() + TRANSFER_WAIT_MS), updatedAt: at });
          return Number(result.identifiers[0].id);
        });
        return { ...row, id };
      } catch (err) {
        if (!isUniqueViolation(err) || attempt >= 3) throw err;
        const raced = await this.deps.db.getRepository(TransferCodeEntity).findOne({ where: { orderId: order.id } });
        if (raced) return raced;
      }
    }
  }

  /** A code is taken while its order can still be paid; a code left on a closed or paid order is released here. */
  private async codeTaken(code: string): Promise<boolean> {
    const holder = await this.deps.db.getRepository(TransferCodeEntity).findOne({ where: { openCode: code } });
    if (!holder) return false;
    const order = await this.deps.db.getRepository(OrderEntity).findOne({ where: { id: holder.orderId } });
    if (order?.state === 'PENDING_PAYMENT') return true;
    await this.deps.db.getRepository(TransferCodeEntity).update({ id: holder.id, openCode: code }, { openCode: null });
    return false;
  }

  /** Decides and records each line; see matcher.ts for the rules. Lines are processed in file order. */
  async importLines(lines: StatementLine[], source: string, at: Date): Promise<LineOutcome[]> {
    if (!lines.length) return [];
    const serials = lines.map((l) => l.bankSerial);
    const seen = new Set((await this.deps.db.getRepository(StatementEntryEntity).find({ where: { bankSerial: In(serials) }, select: ['bankSerial'] })).map((e) => e.bankSerial));
    const outcomes: LineOutcome[] = [];
    for (const line of lines) {
      const open = await this.openOrderByCode(line.remark.normalize('NFKC').trim());
      const decision = decide(line, { seen: (s) => seen.has(s), openOrderByCode: () => open });
      seen.add(line.bankSerial);
      outcomes.push(await this.apply(line, decision, source, at));
    }
    return outcomes;
  }

  private async openOrderByCode(code: string): Promise<OpenTransferOrder | undefined> {
    if (!/^\d{6}$/.test(code)) return undefined;
    const holder = await this.deps.db.getRepository(TransferCodeEntity).findOne({ where: { openCode: code, orderNo: Not(IsNull()) } });
    if (!holder) return undefined;
    const order = await this.deps.db.getRepository(OrderEntity).findOne({ where: { id: holder.orderId } });
    // A closed order's code is still "known": markPaid reports it as a late payment, never a silent credit.
    return order ? { orderNo: order.orderNo, amountFen: order.totalFen, organizationName: holder.organizationName } : undefined;
  }

  private async apply(line: StatementLine, decision: MatchDecision, source: string, at: Date): Promise<LineOutcome> {
    const base = { line: line.line, bankSerial: line.bankSerial };
    if (decision.kind === 'duplicate') return { ...base, result: 'skipped' };
    let entry: Omit<StatementEntry, 'id'> = {
      bankSerial: line.bankSerial, lineDate: line.date.slice(0, 32), payerName: line.payerName.slice(0, 200), payerAccount: line.payerAccount.slice(0, 64),
      payerBank: line.payerBank.slice(0, 200), amountFen: yuanToFen(line.amount), remark: line.remark.slice(0, 200),
      decision: 'exception', reason: null, orderNo: decision.orderNo ?? null, source: `${source}:${line.line}`.slice(-200), importedAt: at,
    };
    let outcome: LineOutcome;
    if (decision.kind === 'match') {
      const paid = await this.orders.markPaid(decision.orderNo, { method: 'transfer', amountFen: decision.amountFen, transactionId: `BANK-${line.bankSerial}`.slice(0, 64), paidAt: at });
      if (paid.outcome === 'paid' || paid.outcome === 'already') {
        entry = { ...entry, decision: 'credited', orderNo: decision.orderNo };
        await this.deps.db.getRepository(TransferCodeEntity).update({ orderNo: decision.orderNo }, { openCode: null });
        outcome = { ...base, result: 'credited', orderNo: decision.orderNo };
      } else {
        const message = paid.outcome === 'late-payment' ? '订单已关闭（超时或取消），款项需退回或人工处理' : '订单已由其他款项支付，款项需退回';
        entry = { ...entry, reason: paid.outcome, orderNo: decision.orderNo };
        outcome = { ...base, result: 'exception', orderNo: decision.orderNo, reason: paid.outcome, message };
      }
    } else {
      entry = { ...entry, reason: decision.reason };
      outcome = { ...base, result: 'exception', orderNo: decision.orderNo, reason: decision.reason, message: decision.message };
    }
    try {
      await inTransaction(this.deps.db, (em) => em.insert(StatementEntryEntity, entry));
    } catch (err) {
      // The same line imported at the same moment by another run: that run recorded it.
      if (!isUniqueViolation(err)) throw err;
      return { ...base, result: 'skipped' };
    }
    // Notices after the line is on record, so a re-import (skipped) never sends a second one.
    if (outcome.result === 'credited' && outcome.orderNo) await enqueueOrderPaidNotice(this.deps, outcome.orderNo);
    const why = outcome.reason ? REJECTION_NOTICE[outcome.reason] : undefined;
    if (outcome.result === 'exception' && outcome.orderNo && why) await enqueueTransferRejectedNotice(this.deps, outcome.orderNo, line.bankSerial, why);
    return outcome;
  }

  /** Lines waiting for a person (the operator console will list these). */
  exceptions(limit = 200): Promise<StatementEntry[]> {
    return this.deps.db.getRepository(StatementEntryEntity).find({ where: { decision: 'exception' }, order: { importedAt: 'DESC' }, take: limit });
  }
}
