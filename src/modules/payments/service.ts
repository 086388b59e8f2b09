import { type Deps } from '../../deps';
import { ConflictError, NotFoundError, ValidationError } from '../../lib/errors';
import { openidTail } from '../../lib/logger';
import { type Order } from '../orders/entities';
import { type MarkPaidOutcome, OrderService, PaymentAmountMismatchError } from '../orders/service';
import { InvalidTransitionError } from '../orders/states';
import { type JsapiPayParams, type WechatPayTransaction } from '../../providers/wechatpay';
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

/** A prepay_id lives 2 hours at WeChat Pay; kept a little less so a reused one never expires mid-payment. */
const PREPAY_REUSE_MS = 110 * 60_000;

/**
 * WeChat Pay for renewal orders. The only ways an order becomes PAID through WeChat Pay are a verified notify
 * and our own (signature-verified) order query; what the page says (get_brand_wcpay_request:ok, or the sandbox
 * cashier's `wechatpay=ok`) is never proof. Every credit goes through OrderService.markPaid, guarded by state
 * and amount; a payment that arrives for a closed order, or a second payment, is refunded, never kept silently.
 */
export class PaymentService {
  readonly orders: OrderService;
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
    const key = `wxpay:prepay:${orderNo}`;
    let prepayId = await this.deps.store.get(key);
    if (!prepayId) {
      ({ prepayId } = await this.deps.wechatpay.jsapiPrepay({
        outTradeNo: order.orderNo,
        description: `数字证书续期 ${order.lines.length} 张`,
        amountFen: order.totalFen,
        openid,
        // WeChat Pay refuses payment after the order's own expiry: a late payment cannot happen through it.
        // At most the prepay's own 2 hours (a transfer order may wait days; its WeChat Pay part does not).
        expiresAtMs: Math.max(Math.min(order.expiresAt.getTime(), now + 2 * 3_600_000), now + 61_000),
      }));
      await this.deps.store.set(key, prepayId, { ttlMs: Math.min(PREPAY_REUSE_MS, Math.max(60_000, order.expiresAt.getTime() - now)) });
    }
    this.deps.logger.info({ openid: openidTail(openid), orderNo }, 'wechat pay parameters issued');
    return this.deps.wechatpay.jsapiPayParams(prepayId);
  }

  /** Credits a transaction that a verified notify or our own verified query reported. */
  async credit(tx: WechatPayTransaction): Promise<CreditResult> {
    const pay = this.deps.wechatpay;
    if (tx.appid !== pay.appId) throw new PaymentMismatch('wrong-appid', `appid ${tx.appid} is not ours`);
    if (tx.mchid !== pay.mchId) throw new PaymentMismatch('wrong-mchid', `mchid ${tx.mchid} is not ours`);
    if (tx.trade_state !== 'SUCCESS') {
      if (!(await this.orders.getOrderHeader(tx.out_trade_no))) throw new PaymentMismatch('unknown-order', `out_trade_no ${tx.out_trade_no} is no order of ours`);
      return { kind: 'not-paid', tradeState: tx.trade_state };
    }
    if (tx.amount?.currency !== 'CNY') throw new PaymentMismatch('wrong-currency', `currency ${tx.amount?.currency}`);
    const paidAt = tx.success_time ? new Date(tx.success_time) : new Date(this.deps.clock.nowMs());
    const transactionId = tx.transaction_id ?? `WX-${tx.out_trade_no}`;
    // markPaid itself refuses an unknown order and a wrong amount (its UPDATE is guarded by both): no read first.
    const { outcome, order } = await this.orders.markPaid(tx.out_trade_no, { method: 'wechatpay', amountFen: tx.amount.total, transactionId, paidAt }).catch((err: unknown) => {
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
        // Refunded on the out_trade_no that was paid.
        orderNo: order.orderNo, outTradeNo: tx.out_trade_no, transactionId, amountFen: tx.amount.total, kind: outcome,
        reason: outcome === 'late-payment' ? '订单已关闭，款项原路退回' : '订单已支付，重复款项原路退回',
      });
    }
    return { kind: 'credited', outcome, order };
  }

  /** The paid page asks WeChat Pay itself while the order still waits (the notify may be late or lost). */
  async reconcile(orderNo: string): Promise<Order | null> {
    const order = await this.orders.getOrder(orderNo);
    if (!order || order.state !== 'PENDING_PAYMENT' || order.paymentMethod !== 'wechatpay') return order;
    const tx = await this.deps.wechatpay.queryByOutTradeNo(orderNo);
    if (tx?.trade_state === 'SUCCESS') return (await this.credit(tx)).kind === 'credited' ? this.orders.getOrder(orderNo) : order;
    return order;
  }

  /**
   * The sweep (a job every minute, and `npm run orders:reconcile`): every order past its expiry is settled with
   * WeChat Pay before we close it — paid meanwhile → credited; otherwise closed there first, so it cannot be
   * paid late, then closed here. Transfer orders are simply closed (a late transfer becomes an exception).
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
    if (order.paymentMethod === 'wechatpay') {
      const tx = await this.deps.wechatpay.queryByOutTradeNo(orderNo);
      if (tx?.trade_state === 'SUCCESS') {
        await this.credit(tx);
        return 'credited';
      }
      if (tx) {
        try {
          await this.deps.wechatpay.close(orderNo);
        } catch (err) {
          // Paid between our query and the close: credit it on the next sweep (or the notify does first).
          if ((err as { wechatCode?: string }).wechatCode === 'ORDERPAID') return 'unchanged';
          throw err;
        }
      }
    }
    const result = await this.orders.close(orderNo, 'expired', now).catch((err: unknown) => {
      // Paid (by a notify) while we were closing: the order is no longer ours to close.
      if (err instanceof InvalidTransitionError) return { changed: false };
      throw err;
    });
    return result.changed ? 'closed' : 'unchanged';
  }
}

