import { type DataSource, type EntityManager } from 'typeorm';
import { isDeadlock, isUniqueViolation } from '../../lib/db/sql';
import { type Random } from '../../lib/clock';
import { type PiiVault } from '../../lib/pii/vault';
import { type JobQueue } from '../../lib/jobs/types';
import { inTransaction } from '../../lib/db/transaction';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../lib/errors';
import { BindingRepository } from '../binding/repository';
import { CertificateRepository } from '../certificates/repository';
import { type CertificateDeps, certificateServiceFor, shanghaiDate } from '../certificates/service';
import { type Certificate } from '../certificates/entities';
import { type ProjectRules } from '../certificates/projects';
import { HandlerAuthorisationService } from '../handler-authorisation/service';
import { HandlerRepository } from '../handlers/repository';
import { type CloseReason, type Order, type PaymentMethod } from './entities';
import { newOrderNumber } from './order-number';
import { lineAmountFen, PriceRuleRepository, totalFen } from './price-rules';
import { type NewOrderLine, OrderRepository, type OrderWithLines } from './repository';
import { InvalidTransitionError, type OrderState } from './states';
import { BRAND } from '../../config/brand';
import { NoticeOutbox } from '../notices/outbox';
import { orderPaidNotice } from './paid-notice';
import { RefundRepository } from '../refunds/repository';
import { assertNoStandingInvoice } from '../invoices/refund-guard';
import { WechatPayAttemptRepository } from '../payments/attempts';

/** The refund of a whole order: one per order, so a repeated request is the same refund at WeChat Pay. */
export const orderRefundNo = (orderNo: string): string => `RO${orderNo}`;

/**
 * How long a new order waits for payment: 2 hours, the life of a WeChat Pay prepay_id, so the order's
 * time_expire, the prepay we reuse and the order itself end together and no payment can start on an order
 * we are about to close. A transfer (对公汇款) arriving later finds the order CLOSED and becomes an exception.
 */
export const ORDER_TTL_MS = 2 * 3_600_000;
/** One order covers at most this many certificates (a page choice; keeps one payment reviewable). */
export const MAX_ITEMS = 20;

export type OrderRefusal = 'not-bound' | 'revoked' | 'superseded' | 'renewal-not-yet' | 'renewal-closed';

/** The certificate cannot be ordered for this handler now; `reason` tells the cases apart. */
export class OrderRefusedError extends ForbiddenError {
  constructor(readonly reason: OrderRefusal, readonly certificateId: number, userMessage: string, detail: string) {
    super(userMessage, detail);
  }
}

/** The certificate is already in an open order. `orderNo` is that order's number when it is the same handler's. */
export class OpenOrderExistsError extends ConflictError {
  /** `paid`: the open order is paid and waits for the renewal itself (PAID is still open: no second order). */
  constructor(readonly certificateId: number, readonly orderNo: string | null, detail: string, paid = false) {
    super(paid
      ? (orderNo ? '该证书已缴费，请在电脑上插入 U-KEY 完成续期' : '该证书已由其他经办人缴费，请在电脑上完成续期')
      : (orderNo ? '该证书已有待支付的订单' : '该证书已有其他经办人的待支付订单'), detail);
  }
}

/** A payment whose amount is not the order's total: never credited. */
export class PaymentAmountMismatchError extends ConflictError {
  constructor(readonly orderNo: string, readonly expectedFen: number, readonly paidFen: number) {
    super('支付金额与订单金额不符，请联系客服', `order ${orderNo}: paid ${paidFen} fen, total is ${expectedFen} fen`);
  }
}

export interface OrderItem { certificateId: number; years: number }
export interface Payment { method: PaymentMethod; amountFen: number; transactionId: string; paidAt: Date }
/**
 * - paid: this call credited the order (PENDING_PAYMENT → PAID);
 * - already: the same payment (transactionId) was credited before; nothing changed;
 * - duplicate-payment: the order was paid by another transaction: money to refund, nothing credited;
 * - late-payment: the order is CLOSED: money to refund or an exception, nothing credited.
 */
export type MarkPaidOutcome = 'paid' | 'already' | 'duplicate-payment' | 'late-payment';
export interface TransitionResult { changed: boolean; order: Order }

export interface OrderDeps extends CertificateDeps { random: Random; pii: PiiVault; jobs: JobQueue }

/**
 * Renewal orders, the commands: creation with the one-open-order rule and its price, the payment method, payment
 * credit and the other transitions. What the 续期缴费 page shows before an order exists is RenewalPreview's.
 */
export class OrderService {
  private readonly orders = new OrderRepository();
  private readonly prices = new PriceRuleRepository();
  private readonly bindings = new BindingRepository();
  private readonly certificates = new CertificateRepository();
  private readonly handlers = new HandlerRepository();
  private readonly refunds = new RefundRepository();
  private readonly attempts = new WechatPayAttemptRepository();
  private readonly authorisation: HandlerAuthorisationService;

  constructor(private readonly deps: OrderDeps) {
    this.authorisation = new HandlerAuthorisationService(deps);
  }

  private get db(): DataSource {
    return this.deps.db;
  }

  async createOrder(input: { openid: string; items: OrderItem[]; at: Date }): Promise<OrderWithLines> {
    const { openid, items, at } = input;
    validateItems(items);
    const sandbox = this.deps.config.sandbox;
    const certificateIds = items.map((i) => i.certificateId);
    // Seed 四 and 经办人授权: only a verified person may order, and only for an organisation they may act for.
    // Checked here, not only by the page's guard, so no route can skip it. Authorisation runs before the order's
    // transaction, in its own: a refusal leaves a PENDING request for the operators, which a rollback would undo.
    const certs: Certificate[] = [];
    for (const item of items) certs.push(await this.orderableCertificate(this.db.manager, openid, item.certificateId, at));
    const handler = await this.handlers.verifiedOf(this.db.manager, openid);
    if (!handler || (handler.sandbox && !sandbox)) throw new ForbiddenError('首次办理需要进行经办人活体鉴别认证，请先完成认证', `order by ${openid.slice(-6)} without a verified handler`);
    // A certificate someone is already paying for is not a reason to queue a request: say so first.
    const held = await this.orders.openOrdersOf(this.db.manager, certificateIds);
    if (held.length) throw openOrderError(held[0].certificateId, held[0].order, openid);
    await this.authorisation.authorise(handler, certs, at);
    try {
      return await inTransaction(this.db, async (tx) => {
        // Binding, window and open orders were checked above; when two orders race, the unique open_key decides.
        const lines: NewOrderLine[] = [];
        for (const [i, cert] of certs.entries()) {
          const years = items[i]!.years;
          const rule = await this.prices.require(tx, cert.project, cert.certType, at);
          lines.push({ certificateId: cert.id, years, unitPriceFen: rule.unitPriceFen, amountFen: lineAmountFen(rule, years), priceRuleId: rule.id });
        }
        const years = new Set(items.map((i) => i.years)).size === 1 ? items[0].years : null;
        // The person acted for these certificates: their records are kept until 5 years after the last expires.
        await this.authorisation.extendRetention(tx, handler, certs, at);
        return this.orders.insert(tx, {
          orderNo: newOrderNumber(this.deps.random, at), openid, totalFen: totalFen(lines.map((l) => l.amountFen)), currency: 'CNY',
          years, expiresAt: new Date(at.getTime() + ORDER_TTL_MS), sandbox, createdAt: at,
        }, lines);
      });
    } catch (err) {
      // A racing order won the open_key (or InnoDB picked us as a deadlock victim of that race, retries spent).
      if (!isUniqueViolation(err) && !isDeadlock(err)) throw err;
      const open = await this.orders.openOrdersOf(this.db.manager, certificateIds);
      if (open.length) throw openOrderError(open[0].certificateId, open[0].order, openid);
      throw err;
    }
  }

  /** The certificate, when it is actively bound to this openid and can be renewed at `at`; else the refusal. */
  private async orderableCertificate(em: EntityManager, openid: string, certificateId: number, at: Date): Promise<Certificate> {
    const sandbox = this.deps.config.sandbox;
    const binding = await this.bindings.findActive(em, certificateId, openid);
    const cert = binding && (sandbox || !binding.sandbox) ? await this.certificates.findById(em, certificateId) : null;
    if (!cert) throw new OrderRefusedError('not-bound', certificateId, '该证书未绑定到您的微信，请先绑定证书', `certificate ${certificateId} is not actively bound to this openid`);
    const refused = refusalFor(certificateServiceFor(this.deps).rules, cert, at);
    if (refused) throw refused;
    return cert;
  }

  /** The handler's orders, newest first, with their lines (for the history page). */
  async listOrders(openid: string, limit = 50): Promise<OrderWithLines[]> {
    const em = this.db.manager;
    return this.orders.withLines(em, await this.orders.listByOpenid(em, openid, limit));
  }

  /** One order of this handler; another handler's order is "not found", exactly like a missing one. */
  async findOrder(orderNo: string, openid: string): Promise<OrderWithLines> {
    const order = await this.orders.findByNo(this.db.manager, orderNo);
    if (!order || order.openid !== openid) throw new NotFoundError('订单不存在', `order ${orderNo} not found for this openid`);
    return (await this.orders.withLines(this.db.manager, [order]))[0];
  }

  /** Any order by number, for the payment side (notify, reconciliation, statement matcher); null when unknown. */
  async getOrder(orderNo: string): Promise<OrderWithLines | null> {
    const order = await this.orders.findByNo(this.db.manager, orderNo);
    return order ? (await this.orders.withLines(this.db.manager, [order]))[0] : null;
  }

  /** The order without its lines: the payment path needs only its state and amount (one query, not two). */
  getOrderHeader(orderNo: string): Promise<Order | null> {
    return this.orders.findByNo(this.db.manager, orderNo);
  }

  /** The handler picks 微信支付 or 对公汇款; only while the order waits for payment. */
  async choosePaymentMethod(orderNo: string, openid: string, method: PaymentMethod, at: Date): Promise<OrderWithLines> {
    const changed = await inTransaction(this.db, (tx) => this.orders.setPaymentMethod(tx, orderNo, openid, method, at));
    const order = await this.findOrder(orderNo, openid);
    if (!changed && order.paymentMethod !== method) throw new ConflictError('订单已支付或已关闭，无法更改支付方式', `order ${orderNo} is ${order.state}; payment method stays ${order.paymentMethod ?? 'unset'}`);
    return order;
  }

  /**
   * Credits a verified payment. One guarded UPDATE (state PENDING_PAYMENT and amount = total) decides, so
   * any number of concurrent deliveries of the same payment credit it once. A payment that does not fit is
   * never credited: wrong amount → PaymentAmountMismatchError; a CLOSED order → 'late-payment'; an order
   * already paid by another transaction → 'duplicate-payment' (both mean money to give back).
   */
  async markPaid(orderNo: string, payment: Payment): Promise<{ outcome: MarkPaidOutcome; order: Order }> {
    if (!Number.isSafeInteger(payment.amountFen) || payment.amountFen <= 0) throw new ValidationError('支付金额无效', `order ${orderNo}: amount ${payment.amountFen} is not a positive integer of fen`);
    // PENDING_PAYMENT → PAID is one guarded UPDATE (PAID is still an open state, so the order lines are not
    // touched); the 订单支付成功 notice it makes owed is recorded in the same transaction, so a crash after the
    // commit cannot lose it (notices/outbox.ts). The read after it only classifies the outcome.
    const credited = await inTransaction(this.db, async (tx) => {
      const changed = await this.orders.transition(tx, orderNo, 'PENDING_PAYMENT', 'PAID', {
        paymentMethod: payment.method, paidAmountFen: payment.amountFen, transactionId: payment.transactionId, paidAt: payment.paidAt,
      }, payment.paidAt, { totalFen: payment.amountFen });
      if (changed) await NoticeOutbox.record(tx, orderPaidNotice(orderNo), payment.paidAt);
      return changed;
    });
    // A separate statement after the commit: it sees the winner's committed row when we lost the race.
    const order = await this.orders.findByNo(this.db.manager, orderNo);
    if (!order) throw new NotFoundError('订单不存在', `payment for unknown order ${orderNo}`);
    if (credited) return { outcome: 'paid', order };
    if (order.state === 'PENDING_PAYMENT') throw new PaymentAmountMismatchError(orderNo, order.totalFen, payment.amountFen);
    if (order.state === 'CLOSED') return { outcome: 'late-payment', order };
    return { outcome: order.transactionId === payment.transactionId ? 'already' : 'duplicate-payment', order };
  }

  /**
   * markPaid for many orders inside the caller's transaction (a statement import's chunk): one guarded UPDATE, and
   * the 订单支付成功 of each recorded as owed with it. The caller locked and read the orders in this transaction and
   * queues the notices after its commit; an order that was no longer payable throws, rolling the chunk back.
   */
  async markPaidWithin(tx: EntityManager, payments: Array<{ orderId: number; orderNo: string; amountFen: number; transactionId: string }>, method: PaymentMethod, paidAt: Date): Promise<void> {
    const changed = await this.orders.markPaidMany(tx, payments, method, paidAt);
    if (changed !== payments.length) throw new Error(`markPaidWithin: ${changed} of ${payments.length} orders credited; an order moved under its lock`);
    await NoticeOutbox.recordMany(tx, payments.map((p) => orderPaidNotice(p.orderNo)), paidAt);
  }

  /** PENDING_PAYMENT → CLOSED (expired, or cancelled by the handler or the reconciliation job). */
  close(orderNo: string, reason: CloseReason, at: Date): Promise<TransitionResult> {
    return this.move(orderNo, 'PENDING_PAYMENT', 'CLOSED', { closedAt: at, closeReason: reason }, at);
  }

  /** The handler cancels their own unpaid order. */
  async cancel(orderNo: string, openid: string, at: Date): Promise<TransitionResult> {
    await this.findOrder(orderNo, openid);
    return this.close(orderNo, 'cancelled', at);
  }

  /** PAID → FULFILLED: the renewed certificate was issued. */
  fulfil(orderNo: string, at: Date): Promise<TransitionResult> {
    return this.move(orderNo, 'PAID', 'FULFILLED', { fulfilledAt: at }, at);
  }

  /**
   * PAID → REFUNDING: a refund of the whole order was requested; the entitlement to renew ends now. The refund is
   * recorded in the same transaction (out_refund_no `RO<order>`, one per order, so asking twice is one refund);
   * RefundService sends it to WeChat Pay after the commit (a transfer is paid back by a person: MANUAL).
   */
  startRefund(orderNo: string, at: Date, reason = '订单退款'): Promise<TransitionResult> {
    return this.move(orderNo, 'PAID', 'REFUNDING', { refundingAt: at }, at, false, async (tx, order) => {
      // An invoiced order is refunded only after its red-letter invoice (issue 11); throwing rolls the move back.
      await assertNoStandingInvoice(tx, orderNo);
      const amountFen = order.paidAmountFen ?? order.totalFen;
      // The money sits on the out_trade_no that was paid: an attempt's own (`<order>-n`) once the first was
      // closed. A paid attempt is never closed (closedAt means WeChat Pay could no longer take money on it), and
      // at most one is open, so it is the open one; an order prepaid before attempts were recorded used its number.
      const paidAttempt = order.paymentMethod === 'wechatpay' ? await this.attempts.open(tx, orderNo) : null;
      await this.refunds.record(tx, {
        orderNo, outTradeNo: paidAttempt?.outTradeNo ?? orderNo, outRefundNo: orderRefundNo(orderNo), transactionId: order.transactionId ?? `ORDER-${orderNo}`, kind: 'order', amountFen, totalFen: amountFen,
        reason, state: order.paymentMethod === 'wechatpay' ? 'REQUESTED' : 'MANUAL',
      }, at);
    });
  }

  /** REFUNDING → REFUNDED: the refund notify (or query) confirmed it. */
  markRefunded(orderNo: string, at: Date): Promise<TransitionResult> {
    return this.move(orderNo, 'REFUNDING', 'REFUNDED', { refundedAt: at }, at);
  }

  /**
   * Closes every order still waiting for payment past its expiry; returns the numbers closed by this call.
   * A job that must close them at WeChat Pay first lists them with dueForExpiry, closes there, then calls close.
   */
  async expireDue(now: Date, limit = 500): Promise<string[]> {
    const closed: string[] = [];
    for (const orderNo of await this.dueForExpiry(now, limit)) {
      const result = await this.move(orderNo, 'PENDING_PAYMENT', 'CLOSED', { closedAt: now, closeReason: 'expired' }, now, true);
      if (result.changed) closed.push(orderNo);
    }
    return closed;
  }

  dueForExpiry(now: Date, limit = 500): Promise<string[]> {
    return this.orders.dueForExpiry(this.db.manager, now, limit);
  }

  /**
   * One guarded transition. Repeating one that already happened returns the order unchanged; one the table
   * does not allow from the current state is an InvalidTransitionError (unless `lenient`, for sweeps that
   * race with payments: an order paid meanwhile is simply left alone). `onChange` writes what the change makes
   * owed, in the same transaction.
   */
  private async move(
    orderNo: string, from: OrderState, to: OrderState, patch: Partial<Order>, at: Date, lenient = false, onChange?: (tx: EntityManager, order: Order) => Promise<void>,
  ): Promise<TransitionResult> {
    return inTransaction(this.db, async (tx) => {
      const changed = await this.orders.transition(tx, orderNo, from, to, patch, at);
      const order = await this.orders.findByNo(tx, orderNo);
      if (!order) throw new NotFoundError('订单不存在', `order ${orderNo} not found`);
      if (changed && onChange) await onChange(tx, order);
      if (changed || order.state === to || lenient) return { changed, order };
      throw new InvalidTransitionError(orderNo, order.state, to);
    });
  }
}

function validateItems(items: OrderItem[]): void {
  if (!Array.isArray(items) || items.length === 0) throw new ValidationError('请选择要续期的证书', 'order has no items');
  if (items.length > MAX_ITEMS) throw new ValidationError(`一次最多续期 ${MAX_ITEMS} 张证书`, `order has ${items.length} items`);
  const ids = items.map((i) => i.certificateId);
  if (ids.some((id) => !Number.isSafeInteger(id) || id <= 0)) throw new ValidationError('请选择要续期的证书', `invalid certificate ids ${ids.join(',')}`);
  if (new Set(ids).size !== ids.length) throw new ValidationError('同一张证书只能选择一次', `duplicate certificate ids ${ids.join(',')}`);
}

/** Why this bound certificate cannot be renewed at `at` (status, then the project's window); null when it can. */
export function refusalFor(rules: ProjectRules, cert: Certificate, at: Date): OrderRefusedError | null {
  if (cert.status === 'revoked') return new OrderRefusedError('revoked', cert.id, `该证书已吊销，无法续期。如有疑问请拨打客服热线 ${BRAND.hotline}`, `certificate ${cert.id} is revoked`);
  if (cert.status === 'superseded') return new OrderRefusedError('superseded', cert.id, '该证书已完成续期，请在“我的数字证书”中查看新证书', `certificate ${cert.id} is superseded by ${cert.supersededById ?? '?'}`);
  const state = rules.renewalState(cert.project, cert.notAfter, at);
  if (state === 'open') return null;
  const { opensAt, closesAt } = rules.renewalPeriod(cert.project, cert.notAfter);
  if (state === 'not-yet') return new OrderRefusedError('renewal-not-yet', cert.id, `该证书 ${shanghaiDate(opensAt)} 起可以续期，请届时再来办理`, `renewal of ${cert.id} opens at ${opensAt.toISOString()}`);
  return new OrderRefusedError('renewal-closed', cert.id, '已超过续期期限，请联系 CA 重新办理', `renewal of ${cert.id} closed at ${closesAt.toISOString()}`);
}

/** The open order holding this certificate, as an error that names the order only to its own handler. */
export function openOrderError(certificateId: number, order: Order, openid: string): OpenOrderExistsError {
  return new OpenOrderExistsError(certificateId, order.openid === openid ? order.orderNo : null, `certificate ${certificateId} is in open order ${order.orderNo} (${order.state})`, order.state !== 'PENDING_PAYMENT');
}
