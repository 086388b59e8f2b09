import { In } from 'typeorm';
import { type Deps } from '../../deps';
import { isUniqueViolation } from '../../lib/db/sql';
import { ConflictError, NotFoundError, ValidationError } from '../../lib/errors';
import { NoticeOutbox } from '../notices/outbox';
import { orderPaidNotice } from '../orders/paid-notice';
import { OrderService, PaymentAmountMismatchError } from '../orders/service';
import { type StatementEntry, StatementEntryEntity, TransferCodeEntity } from '../transfers/entities';
import { type StatementResolution, StatementResolutionEntity } from './entities';

/** Why the matcher (or markPaid) left a line to a person, as the exception queue names it. */
export const EXCEPTION_REASONS: Readonly<Record<string, string>> = {
  'bad-amount': '金额无法识别',
  'remark-not-code': '附言不是 6 位校验码',
  'unknown-code': '校验码不对应待付款订单',
  'fiscal-payer': '财政/国库/零余额账户付款',
  'amount-mismatch': '金额与订单金额不一致',
  'name-mismatch': '付款单位与证书单位不一致',
  'late-payment': '订单已关闭（超时或取消）',
  'duplicate-payment': '订单已由其他款项支付',
};

export interface ManualCredit { statementLineId: number; bankSerial: string; orderNo: string; amountFen: number; reason: string }
export interface RefundInstructions { accountName: string; account: string; bank: string; note: string; reason: string }
export type ExceptionView = 'open' | 'refund-pending' | 'done';
export interface ExceptionRow { line: StatementEntry; resolution: StatementResolution | null }

const yuan = (fen: number | null) => (fen === null ? '—' : (fen / 100).toFixed(2));

/**
 * The transfer exception queue: statement lines the matcher would not credit, and what a person decides for each —
 * credit it to an order by hand (four-eyes kind 'manual-credit', executed here through the matcher's own settlement:
 * OrderService.markPaid with the line's bank serial as the transaction, the code released, the line settled, the
 * 订单支付成功 notice), or send the money back to the payer (instructions recorded, then the return confirmed).
 */
export class TransferExceptionService {
  private readonly orders: OrderService;
  private readonly outbox: NoticeOutbox;

  constructor(private readonly deps: Deps) {
    this.orders = new OrderService(deps);
    this.outbox = new NoticeOutbox(deps);
  }

  async list(view: ExceptionView, page: number, pageSize: number): Promise<{ items: ExceptionRow[]; total: number }> {
    const db = this.deps.db;
    if (view === 'open') {
      const [lines, total] = await db.getRepository(StatementEntryEntity).createQueryBuilder('l')
        .where('l.decision = :d', { d: 'exception' })
        .andWhere('NOT EXISTS (SELECT 1 FROM statement_line_resolutions r WHERE r.statement_line_id = l.id)')
        .orderBy('l.id', 'DESC').skip((page - 1) * pageSize).take(pageSize).getManyAndCount();
      return { items: lines.map((line) => ({ line, resolution: null })), total };
    }
    const states = view === 'refund-pending' ? ['refund-pending'] : ['credited', 'refunded'];
    const [resolutions, total] = await db.getRepository(StatementResolutionEntity).findAndCount({ where: { state: In(states) }, order: { id: 'DESC' }, skip: (page - 1) * pageSize, take: pageSize });
    const lines = new Map((await db.getRepository(StatementEntryEntity).find({ where: { id: In(resolutions.map((r) => r.statementLineId).concat(0)) } })).map((l) => [l.id, l]));
    return { items: resolutions.filter((r) => lines.has(r.statementLineId)).map((r) => ({ line: lines.get(r.statementLineId)!, resolution: r })), total };
  }

  async get(statementLineId: number): Promise<ExceptionRow> {
    const line = await this.deps.db.getRepository(StatementEntryEntity).findOne({ where: { id: statementLineId } });
    if (!line) throw new NotFoundError('没有这条流水', `statement line ${statementLineId} not found`);
    return { line, resolution: await this.deps.db.getRepository(StatementResolutionEntity).findOne({ where: { statementLineId } }) };
  }

  /** At propose time: only an open exception, to an order still waiting for exactly this amount. */
  async validateCredit(input: ManualCredit): Promise<void> {
    const { line, resolution } = await this.get(input.statementLineId);
    if (line.decision !== 'exception' || resolution) throw new ConflictError('这条流水已处理，不能再入账', `statement line ${line.id} is ${line.decision}/${resolution?.state ?? 'open'}`);
    if (line.bankSerial !== input.bankSerial || line.amountFen !== input.amountFen) throw new ValidationError('流水信息已变化，请刷新后重试', `line ${line.id} differs from the proposal`);
    if (!input.reason.trim()) throw new ValidationError('请填写人工入账的理由', 'manual credit without reason');
    const order = await this.orders.getOrderHeader(input.orderNo);
    if (!order) throw new ValidationError(`订单 ${input.orderNo} 不存在，请核对订单号`, `manual credit to unknown order ${input.orderNo}`);
    if (order.state !== 'PENDING_PAYMENT') throw new ValidationError(`订单 ${input.orderNo} 的状态是 ${order.state}，只能入账待支付的订单；这笔款项应退回`, `order ${input.orderNo} is ${order.state}`);
    if (line.amountFen !== order.totalFen) {
      throw new ValidationError(`流水金额 ${yuan(line.amountFen)} 元与订单金额 ${yuan(order.totalFen)} 元不一致，不能入账；请退回款项`, `line ${line.id} ${line.amountFen} fen vs order ${order.totalFen}`);
    }
  }

  /**
   * Executes an approved manual credit. Idempotent: the line is claimed (exception → credited) by a guarded UPDATE,
   * and the credit is markPaid with the line's own bank serial, so a retry after a crash answers "already" and a
   * second approval of another proposal for the same line finds it taken. A credit markPaid refuses puts the line back.
   */
  async executeCredit(input: ManualCredit, by: { proposalId: number; decidedBy: string }): Promise<{ orderNo: string; outcome: 'paid' | 'already' }> {
    const repo = this.deps.db.getRepository(StatementEntryEntity);
    const { line, resolution } = await this.get(input.statementLineId);
    if (resolution) {
      if (resolution.state === 'credited' && resolution.orderNo === input.orderNo) return { orderNo: input.orderNo, outcome: 'already' };
      throw new ConflictError('这条流水已由其他操作处理', `statement line ${line.id} already resolved as ${resolution.state}`);
    }
    const claimed = await repo.update({ id: line.id, decision: 'exception' }, { decision: 'credited', orderNo: input.orderNo });
    if (!claimed.affected && !(line.decision === 'credited' && line.orderNo === input.orderNo)) {
      throw new ConflictError('这条流水已由其他操作处理', `statement line ${line.id} is ${line.decision} (${line.orderNo ?? 'no order'})`);
    }
    const now = new Date(this.deps.clock.nowMs());
    const putBack = () => repo.update({ id: line.id, decision: 'credited' }, { decision: 'exception', orderNo: line.orderNo });
    let outcome;
    try {
      outcome = (await this.orders.markPaid(input.orderNo, { method: 'transfer', amountFen: line.amountFen ?? 0, transactionId: `BANK-${line.bankSerial}`.slice(0, 64), paidAt: now })).outcome;
    } catch (err) {
      await putBack();
      if (err instanceof PaymentAmountMismatchError) throw new ConflictError('流水金额与订单金额不一致，不能入账', err.detail, { cause: err });
      throw err;
    }
    if (outcome === 'late-payment' || outcome === 'duplicate-payment') {
      await putBack();
      throw new ConflictError(outcome === 'late-payment' ? '订单已关闭，不能入账；请退回款项' : '订单已由其他款项支付，不能入账；请退回款项', `manual credit of line ${line.id} to ${input.orderNo}: ${outcome}`);
    }
    // The rest of the matcher's settlement: the code is released, the handler told once.
    await this.deps.db.getRepository(TransferCodeEntity).update({ orderNo: input.orderNo }, { openCode: null });
    if (outcome === 'paid') await this.outbox.enqueue(orderPaidNotice(input.orderNo));
    else await this.outbox.enqueueIfOwed(orderPaidNotice(input.orderNo).key);
    await this.record({ statementLineId: line.id, bankSerial: line.bankSerial, state: 'credited', orderNo: input.orderNo, reason: input.reason.slice(0, 200), proposalId: by.proposalId, decidedBy: by.decidedBy }, true);
    const after = (await this.get(line.id)).resolution;
    // A refund instruction recorded in the same instant as this credit: the money is both credited and to be returned.
    if (after?.state !== 'credited') this.deps.logger.error({ alert: true, statementLineId: line.id, state: after?.state }, 'manual credit raced a refund instruction: look at this line');
    return { orderNo: input.orderNo, outcome };
  }

  /** The money goes back to the payer's account: the instructions are recorded (the finance staff make the transfer). */
  async instructRefund(statementLineId: number, input: RefundInstructions, decidedBy: string): Promise<StatementResolution> {
    const { line, resolution } = await this.get(statementLineId);
    if (line.decision !== 'exception' || resolution) throw new ConflictError('这条流水已处理', `statement line ${line.id} is ${line.decision}/${resolution?.state ?? 'open'}`);
    if (!input.reason.trim()) throw new ValidationError('请填写退回的理由', 'refund instruction without reason');
    if (!input.accountName.trim() || !input.account.trim()) throw new ValidationError('请填写退回的收款户名和账号', 'refund instruction without account');
    await this.record({
      statementLineId: line.id, bankSerial: line.bankSerial, state: 'refund-pending', orderNo: line.orderNo, reason: input.reason.slice(0, 200),
      refundAccountName: input.accountName.trim().slice(0, 200), refundAccount: input.account.trim().slice(0, 64), refundBank: input.bank.trim().slice(0, 200) || null,
      refundNote: input.note.trim().slice(0, 200) || null, proposalId: null, decidedBy,
    }, false);
    return (await this.get(statementLineId)).resolution!;
  }

  /** The return transfer went out: its bank reference is recorded, the line leaves the pending list. */
  async markRefunded(statementLineId: number, reference: string, by: string): Promise<StatementResolution> {
    if (!reference.trim()) throw new ValidationError('请填写退款的银行流水号', 'refund done without reference');
    const done = await this.deps.db.getRepository(StatementResolutionEntity).update(
      { statementLineId, state: 'refund-pending' },
      { state: 'refunded', refundReference: reference.trim().slice(0, 64), refundedBy: by.slice(0, 64), refundedAt: new Date(this.deps.clock.nowMs()) },
    );
    if (!done.affected) throw new ConflictError('这条流水不在待退回状态', `statement line ${statementLineId} is not refund-pending`);
    return (await this.get(statementLineId)).resolution!;
  }

  private async record(row: Omit<StatementResolution, 'id' | 'createdAt' | 'refundReference' | 'refundedBy' | 'refundedAt' | 'refundAccountName' | 'refundAccount' | 'refundBank' | 'refundNote'> & Partial<StatementResolution>, repeatOk: boolean): Promise<void> {
    try {
      await this.deps.db.getRepository(StatementResolutionEntity).insert({
        refundAccountName: null, refundAccount: null, refundBank: null, refundNote: null, refundReference: null, refundedBy: null, refundedAt: null,
        ...row, decidedBy: row.decidedBy.slice(0, 64), createdAt: new Date(this.deps.clock.nowMs()),
      });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      if (!repeatOk) throw new ConflictError('这条流水已处理', `statement line ${row.statementLineId} already has a resolution`);
    }
  }
}
