import { type Deps } from '../../deps';
import { ConflictError, NotFoundError, ValidationError } from '../../lib/errors';
import { openidTail } from '../../lib/logger';
import { type Order } from '../orders/entities';
import { type OrderWithLines } from '../orders/repository';
import { type MarkPaidOutcome, OrderService, PaymentAmountMismatchError } from '../orders/service';
import { InvalidTransitionError } from '../orders/states';
import { withLock } from '../../lib/store/lock';
import { type JsapiPayParams, WechatPayError, type WechatPayTransaction } from '../../providers/wechatpay';
import { type WechatPayAttempt, WechatPayAttemptRepository } from './attempts';
import { NoticeOutbox } from '../notices/outbox';
import { orderPaidNotice } from '../orders/paid-notice';
import { RefundService } from '../refunds/service';

/** Why a verified transaction was not credited (the notify endpoint answers 4xx for these: retrying cannot help). */
export class PaymentMismatch extends Error {
  constructor(readonly reason: 'wrong-appid' | 'wrong-mchid' | 'unknown-order' | 'wrong-amount' | 'wrong-currency', detail: string) {
    super(detail);
  }
}

export type CreditResult =
  | { kind: 'credited'; outcome: MarkPaidOutcome; order: Order }
  | { kind: 'not-paid'; tradeState: string };

/** A prepay_id lives 2 hours at WeChat Pay; reused a little less so a reused one never expires mid-payment. */
const PREPAY_REUSE_MS = 110 * 60_000;
/** An attempt whose time_expire is nearer than this is replaced by a new one when the order itself can wait longer. */
const PAYABLE_MARGIN_MS = 5 * 60_000;

const wechatCodeOf = (err: unknown) => (err instanceof WechatPayError ? err.wechatCode : undefined);

/**
 * WeChat Pay for renewal orders. The only ways an order becomes PAID through WeChat Pay are a verified notify
 * and our own (signature-verified) order query; what the page says (get_brand_wcpay_request:ok, or the sandbox
 * cashier's `wechatpay=ok`) is never proof. Every credit goes through OrderService.markPaid, guarded by state
 * and amount; a payment that arrives for a closed order, or a second payment, is refunded, never kept silently.
 *
 * An order is paid at WeChat Pay through attempts (attempts.ts): one out_trade_no each, with the time_expire first
 * sent for it kept and sent again on every later prepay (WeChat Pay refuses a changed one). When that time_expire
 * has passed but the order may still be paid (对公汇款 extended it), the attempt is closed at WeChat Pay first and
 * a new out_trade_no is used; whichever attempt is paid credits the order once, any second payment is refunded.
 */
export class PaymentService {
  readonly orders: OrderService;
  private readonly attempts = new WechatPayAttemptRepository();
  readonly refunds: RefundService;
  private readonly outbox: NoticeOutbox;

  constructor(private readonly deps: Deps) {
    this.orders = new OrderService(deps);
    this.refunds = new RefundService(deps);
    this.outbox = new NoticeOutbox(deps);
  }

  /** getBrandWCPayRequest parameters for the handler's order, reusing a live prepay_id rather than creating one per tap. */
  async jsapiParams(orderNo: string, openid: string): Promise<JsapiPayParams> {
    const now = this.deps.clock.nowMs();
    const order = await this.orders.choosePaymentMethod(orderNo, openid, 'wechatpay', new Date(now));
    if (order.state !== 'PENDING_PAYMENT') throw new ConflictError('订单已支付或已关闭', `order ${orderNo} is ${order.state}`);
    // One tap at a time per order, across instances: two taps must not make two attempts.
    const locked = await withLock(this.deps.store, `wxpay:attempt:${orderNo}`, { ttlMs: 30_000, waitMs: 15_000 }, () => this.livePrepayId(order, openid, now));
    if (!locked) throw new ConflictError('支付请求正在处理，请稍后再试', `prepay of ${orderNo}: lock busy`);
    this.deps.logger.info({ openid: openidTail(openid), orderNo }, 'wechat pay parameters issued');
    return this.deps.wechatpay.jsapiPayParams(locked.value);
  }

  /** The prepay_id to pay the order's open attempt with: cached for its 2 hours, else a prepay with the attempt's own time_expire. */
  private async livePrepayId(order: OrderWithLines, openid: string, now: number): Promise<string> {
    let attempt = await this.attempts.open(this.deps.db.manager, order.orderNo);
    if (attempt && attempt.timeExpire.getTime() - now < PAYABLE_MARGIN_MS && order.expiresAt.getTime() > attempt.timeExpire.getTime()) {
      await this.retire(attempt, now);
      attempt = null;
    }
    for (let tries = 0; ; tries++) {
      attempt ??= await this.newAttempt(order, now);
      const cacheKey = `wxpay:prepay:${attempt.outTradeNo}`;
      // The issue time travels with the prepay_id: its 2 hours are counted on our clock, not the store's TTL.
      const cached = JSON.parse((await this.deps.store.get(cacheKey)) ?? 'null') as { prepayId: string; issuedAtMs: number } | null;
      if (cached && now - cached.issuedAtMs < PREPAY_REUSE_MS) return cached.prepayId;
      try {
        const { prepayId } = await this.deps.wechatpay.jsapiPrepay({
          outTradeNo: attempt.outTradeNo,
          description: `数字证书续期 ${order.lines.length} 张`,
          amountFen: order.totalFen,
          openid,
          // The same time_expire on every prepay of this out_trade_no: WeChat Pay refuses a changed one.
          expiresAtMs: attempt.timeExpire.getTime(),
        });
        await this.deps.store.set(cacheKey, JSON.stringify({ prepayId, issuedAtMs: now }), { ttlMs: PREPAY_REUSE_MS });
        return prepayId;
      } catch (err) {
        const code = wechatCodeOf(err);
        if (code === 'ORDERPAID') {
          await this.settle(attempt.outTradeNo);
          throw new ConflictError('订单已支付', `order ${order.orderNo}: ${attempt.outTradeNo} was paid meanwhile`);
        }
        // WeChat Pay will not take this out_trade_no again (closed there, or first sent with other parameters,
        // e.g. before attempts were recorded): close it and go on with a new one, once.
        if (tries > 0 || (code !== 'ORDER_CLOSED' && code !== 'OUT_TRADE_NO_USED')) throw err;
        await this.retire(attempt, now);
        attempt = null;
      }
    }
  }

  /**
   * A new attempt (a new out_trade_no) whose time_expire is the order's own deadline now: WeChat Pay then refuses
   * payment exactly when we stop accepting it, and a later prepay within that time reuses it unchanged.
   */
  private async newAttempt(order: Order, now: number): Promise<WechatPayAttempt> {
    const em = this.deps.db.manager;
    const seq = Math.max(0, ...(await this.attempts.ofOrder(em, order.orderNo)).map((a) => a.seq)) + 1;
    return this.attempts.create(em, { orderId: order.id, orderNo: order.orderNo, seq, timeExpire: order.expiresAt, createdAt: new Date(now) });
  }

  /** Closes an attempt at WeChat Pay, then here; one paid meanwhile is credited instead (ConflictError: nothing to pay). */
  private async retire(attempt: WechatPayAttempt, now: number): Promise<void> {
    try {
      await this.deps.wechatpay.close(attempt.outTradeNo);
    } catch (err) {
      const code = wechatCodeOf(err);
      if (code === 'ORDERPAID') {
        await this.settle(attempt.outTradeNo);
        throw new ConflictError('订单已支付', `order ${attempt.orderNo}: ${attempt.outTradeNo} was paid meanwhile`);
      }
      if (code !== 'ORDER_NOT_EXIST') throw err; // ORDER_NOT_EXIST: the prepay never reached WeChat Pay; nothing to close
    }
    await this.attempts.markClosed(this.deps.db.manager, attempt.id, new Date(now));
    await this.deps.store.del(`wxpay:prepay:${attempt.outTradeNo}`);
  }

  /** Asks WeChat Pay about one out_trade_no and credits it when paid; true when it was. */
  private async settle(outTradeNo: string): Promise<boolean> {
    const tx = await this.deps.wechatpay.queryByOutTradeNo(outTradeNo);
    if (tx?.trade_state !== 'SUCCESS') return false;
    await this.credit(tx);
    return true;
  }

  /** The order an out_trade_no pays: attempt n ≥ 2 is looked up; attempt 1 (and any order prepaid before attempts) is the order number. */
  async orderNoOf(outTradeNo: string): Promise<string> {
    if (!/-\d+$/.test(outTradeNo)) return outTradeNo;
    return (await this.attempts.byOutTradeNo(this.deps.db.manager, outTradeNo))?.orderNo ?? outTradeNo;
  }

  /** The out_trade_nos of the order WeChat Pay may still take money on: its open attempts (or, for an order prepaid before attempts were recorded, its number). */
  private async payable(order: Order): Promise<Array<{ outTradeNo: string; attempt?: WechatPayAttempt }>> {
    const all = await this.attempts.ofOrder(this.deps.db.manager, order.orderNo);
    if (!all.length) return order.paymentMethod === 'wechatpay' ? [{ outTradeNo: order.orderNo }] : [];
    return all.filter((a) => !a.closedAt).map((a) => ({ outTradeNo: a.outTradeNo, attempt: a }));
  }

  /** Credits a transaction that a verified notify or our own verified query reported. */
  async credit(tx: WechatPayTransaction): Promise<CreditResult> {
    const pay = this.deps.wechatpay;
    if (tx.appid !== pay.appId) throw new PaymentMismatch('wrong-appid', `appid ${tx.appid} is not ours`);
    if (tx.mchid !== pay.mchId) throw new PaymentMismatch('wrong-mchid', `mchid ${tx.mchid} is not ours`);
    const orderNo = await this.orderNoOf(tx.out_trade_no);
    if (tx.trade_state !== 'SUCCESS') {
      if (!(await this.orders.getOrderHeader(orderNo))) throw new PaymentMismatch('unknown-order', `out_trade_no ${tx.out_trade_no} is no order of ours`);
      return { kind: 'not-paid', tradeState: tx.trade_state };
    }
    if (tx.amount?.currency !== 'CNY') throw new PaymentMismatch('wrong-currency', `currency ${tx.amount?.currency}`);
    const paidAt = tx.success_time ? new Date(tx.success_time) : new Date(this.deps.clock.nowMs());
    const transactionId = tx.transaction_id ?? `WX-${tx.out_trade_no}`;
    // markPaid itself refuses an unknown order and a wrong amount (its UPDATE is guarded by both): no read first.
    const { outcome, order } = await this.orders.markPaid(orderNo, { method: 'wechatpay', amountFen: tx.amount.total, transactionId, paidAt }).catch((err: unknown) => {
      if (err instanceof NotFoundError) throw new PaymentMismatch('unknown-order', `out_trade_no ${tx.out_trade_no} is no order of ours`);
      if (err instanceof PaymentAmountMismatchError || err instanceof ValidationError) throw new PaymentMismatch('wrong-amount', err.detail ?? 'amount differs from the order');
      throw err;
    });
    // 订单支付成功 was recorded as owed with the credit. A repeat (WeChat Pay's retry after we failed to queue it,
    // reconcile, the sweep) queues it only while it is still owed, so the handler gets it once.
    if (outcome === 'paid') await this.outbox.enqueue(orderPaidNotice(order.orderNo));
    if (outcome === 'already') await this.outbox.enqueueIfOwed(orderPaidNotice(order.orderNo).key);
    if (outcome === 'late-payment' || outcome === 'duplicate-payment') {
      // Money we cannot keep: give it back. The refund is on record before WeChat Pay is asked, and its number is
      // fixed per transaction, so a retried notify (or the refunds pass after a failure) never refunds twice.
      this.deps.logger.warn({ orderNo: order.orderNo, outcome }, 'payment not credited: refunding');
      await this.refunds.refundPayment({
        // Refunded on the out_trade_no that was paid (an attempt's own number, not necessarily the order's).
        orderNo: order.orderNo, outTradeNo: tx.out_trade_no, transactionId, amountFen: tx.amount.total, kind: outcome,
        reason: outcome === 'late-payment' ? '订单已关闭，款项原路退回' : '订单已支付，重复款项原路退回',
      });
    }
    return { kind: 'credited', outcome, order };
  }

  /** The paid page asks WeChat Pay itself while the order still waits (the notify may be late or lost). */
  async reconcile(orderNo: string): Promise<Order | null> {
    const order = await this.orders.getOrder(orderNo);
    if (!order || order.state !== 'PENDING_PAYMENT') return order;
    for (const { outTradeNo } of await this.payable(order)) {
      if (await this.settle(outTradeNo)) return this.orders.getOrder(orderNo);
    }
    return order;
  }

  /**
   * The sweep (a job every minute, and `npm run orders:reconcile`): every order past its expiry is settled with
   * WeChat Pay before we close it — paid meanwhile → credited; otherwise each attempt WeChat Pay could still take
   * money on is closed there first, so it cannot be paid late, then the order here. An order whose handler moved
   * to 对公汇款 after a WeChat Pay prepay is settled the same way (its attempt may have been paid).
   */
  async closeExpired(now: Date): Promise<{ closed: string[]; credited: string[]; failed: string[] }> {
    const closed: string[] = [];
    const credited: string[] = [];
    const failed: string[] = [];
    for (const orderNo of await this.orders.dueForExpiry(now, 200)) {
      // One order that cannot be settled now (WeChat Pay down for it, a bad row) must not hold up every order
      // behind it: it is counted and logged, and the next sweep tries it again.
      try {
        const settled = await this.settleExpired(orderNo, now);
        if (settled === 'closed') closed.push(orderNo);
        if (settled === 'credited') credited.push(orderNo);
        if (settled !== 'unchanged') this.deps.metrics.orderSweep.inc({ result: settled });
      } catch (err) {
        failed.push(orderNo);
        this.deps.metrics.orderSweep.inc({ result: 'failed' });
        this.deps.logger.error({ err, orderNo }, 'expired order not settled; the next sweep tries again');
      }
    }
    return { closed, credited, failed };
  }

  private async settleExpired(orderNo: string, now: Date): Promise<'closed' | 'credited' | 'unchanged'> {
    const order = await this.orders.getOrder(orderNo);
    if (!order || order.state !== 'PENDING_PAYMENT') return 'unchanged';
    for (const { outTradeNo, attempt } of await this.payable(order)) {
      const tx = await this.deps.wechatpay.queryByOutTradeNo(outTradeNo);
      if (tx?.trade_state === 'SUCCESS') {
        await this.credit(tx);
        return 'credited';
      }
      if (tx) {
        try {
          await this.deps.wechatpay.close(outTradeNo);
        } catch (err) {
          // Paid between our query and the close: credit it on the next sweep (or the notify does first).
          if (wechatCodeOf(err) === 'ORDERPAID') return 'unchanged';
          throw err;
        }
      }
      if (attempt) await this.attempts.markClosed(this.deps.db.manager, attempt.id, now);
    }
    const result = await this.orders.close(orderNo, 'expired', now).catch((err: unknown) => {
      // Paid (by a notify) while we were closing: the order is no longer ours to close.
      if (err instanceof InvalidTransitionError) return { changed: false };
      throw err;
    });
    return result.changed ? 'closed' : 'unchanged';
  }
}
