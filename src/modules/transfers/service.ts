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
import { transferRejectedNotice } from '../payments/notices';
import { NoticeOutbox } from '../notices/outbox';
import { orderPaidNotice } from '../orders/paid-notice';

/** How long a transfer order waits for the money to arrive (and be imported) before the sweep closes it. */
export const TRANSFER_WAIT_MS = 7 * 86_400_000;

/** A line claimed this long ago and still not settled belongs to an import that died; another may take it. */
const CLAIM_STALE_MS = 5 * 60_000;

/** What the handler is told (a template's thing field: 20 characters at most) when their transfer is not credited. */
export const REJECTION_NOTICE: Readonly<Record<string, string>> = {
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
  private readonly outbox: NoticeOutbox;

  constructor(private readonly deps: Deps) {
    this.orders = new OrderService(deps);
    this.outbox = new NoticeOutbox(deps);
  }

  /** The code an order already has, if 对公汇款 was chosen for it; changes nothing. */
  existingCode(orderId: number): Promise<TransferCode | null> {
    return this.deps.db.getRepository(TransferCodeEntity).findOne({ where: { orderId } });
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
    // A line still "processing" is not counted as seen: claimLine decides whether its import is alive or died.
    const settled = await this.deps.db.getRepository(StatementEntryEntity).find({ where: { bankSerial: In(serials), decision: Not('processing') }, select: ['bankSerial'] });
    const seen = new Set(settled.map((e) => e.bankSerial));
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
    // Claim the line before acting on it: of two imports of one file at once, exactly one goes on, and the
    // other cannot decide the same line again from a state the first one is changing (it would see the code
    // released and record a false "unknown code").
    const entryId = await this.claimLine(line, source, at);
    if (entryId === null) return { ...base, result: 'skipped' };
    if (decision.kind === 'match') {
      // markPaid has the last word: another line may have paid the order since the decision (duplicate-payment).
      const paid = await this.orders.markPaid(decision.orderNo, { method: 'transfer', amountFen: decision.amountFen, transactionId: `BANK-${line.bankSerial}`.slice(0, 64), paidAt: at });
      if (paid.outcome === 'paid' || paid.outcome === 'already') {
        await this.deps.db.getRepository(TransferCodeEntity).update({ orderNo: decision.orderNo }, { openCode: null });
        await this.settleLine(entryId, { decision: 'credited', reason: null, orderNo: decision.orderNo });
        // markPaid recorded 订单支付成功 as owed with the credit; a line that finds it credited already queues it only if still owed.
        if (paid.outcome === 'paid') await this.outbox.enqueue(orderPaidNotice(decision.orderNo));
        else await this.outbox.enqueueIfOwed(orderPaidNotice(decision.orderNo).key);
        return { ...base, result: 'credited', orderNo: decision.orderNo };
      }
      const message = paid.outcome === 'late-payment' ? '订单已关闭（超时或取消），款项需退回或人工处理' : '订单已由其他款项支付，款项需退回';
      return this.recordException(entryId, line, { ...base, result: 'exception', orderNo: decision.orderNo, reason: paid.outcome, message });
    }
    return this.recordException(entryId, line, { ...base, result: 'exception', orderNo: decision.orderNo, reason: decision.reason, message: decision.message });
  }

  private async recordException(entryId: number, line: StatementLine, outcome: LineOutcome): Promise<LineOutcome> {
    const why = outcome.reason ? REJECTION_NOTICE[outcome.reason] : undefined;
    const notice = outcome.orderNo && why ? transferRejectedNotice(outcome.orderNo, line.bankSerial, why) : null;
    // The line's decision and the 汇款未通过 it makes owed commit together: a re-import skips the settled line, and
    // a crash before the enqueue below leaves the notice owed for the periodic pass (notices/outbox.ts).
    await inTransaction(this.deps.db, async (em) => {
      await em.update(StatementEntryEntity, { id: entryId }, { decision: 'exception', reason: outcome.reason ?? null, orderNo: outcome.orderNo ?? null });
      if (notice) await NoticeOutbox.record(em, notice, new Date(this.deps.clock.nowMs()));
    });
    if (notice) await this.outbox.enqueue(notice);
    return outcome;
  }

  /**
   * Records the line as being processed; null when another import holds it or has settled it. A claim left
   * by an import that died mid-line is taken over after CLAIM_STALE_MS: crediting is idempotent by the bank
   * serial (markPaid answers "already"), so going again is safe, and skipping it would lose the money.
   */
  private async claimLine(line: StatementLine, source: string, at: Date): Promise<number | null> {
    const repo = this.deps.db.getRepository(StatementEntryEntity);
    const entry: Omit<StatementEntry, 'id'> = {
      bankSerial: line.bankSerial, lineDate: line.date.slice(0, 32), payerName: line.payerName.slice(0, 200), payerAccount: line.payerAccount.slice(0, 64),
      payerBank: line.payerBank.slice(0, 200), amountFen: yuanToFen(line.amount), remark: line.remark.slice(0, 200),
      decision: 'processing', reason: null, orderNo: null, source: `${source}:${line.line}`.slice(-200), importedAt: at,
    };
    try {
      const result = await repo.insert(entry);
      return Number(result.identifiers[0].id);
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
    const held = await repo.findOne({ where: { bankSerial: line.bankSerial } });
    if (!held || held.decision !== 'processing' || at.getTime() - held.importedAt.getTime() < CLAIM_STALE_MS) return null;
    const taken = await repo.update({ id: held.id, decision: 'processing', importedAt: held.importedAt }, { importedAt: at, source: entry.source });
    return taken.affected ? held.id : null;
  }

  private async settleLine(id: number, result: Pick<StatementEntry, 'decision' | 'reason' | 'orderNo'>): Promise<void> {
    await this.deps.db.getRepository(StatementEntryEntity).update({ id }, result);
  }

  /** Lines waiting for a person (the operator console will list these). */
  exceptions(limit = 200): Promise<StatementEntry[]> {
    return this.deps.db.getRepository(StatementEntryEntity).find({ where: { decision: 'exception' }, order: { importedAt: 'DESC' }, take: limit });
  }
}
