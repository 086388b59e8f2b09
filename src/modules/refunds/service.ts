import { type Deps } from '../../deps';
import { type WechatPayRefund, WechatPayError } from '../../providers/wechatpay';
import { InvalidTransitionError } from '../orders/states';
import { orderRefundNo, OrderService } from '../orders/service';
import { type Refund, type RefundKind, type RefundState } from './entities';
import { RefundRepository } from './repository';

/** A refund WeChat Pay has accepted stays PROCESSING this long before we ask about it ourselves (notifies get lost). */
const QUERY_AFTER_MS = 5 * 60_000;
/** A refund whose request did not get through is asked for again after this (same out_refund_no). */
const RESUBMIT_AFTER_MS = 60_000;
/** WeChat Pay's final states: a notify or query answer saying PROCESSING no longer moves a row out of them. */
const FINAL: readonly RefundState[] = ['SUCCESS', 'CLOSED', 'ABNORMAL'];

/**
 * Every refund, on record before WeChat Pay is asked (so a crash, a timeout or a refusal loses nothing), then
 * followed until it ends: the refund notify (REFUND.SUCCESS / ABNORMAL / CLOSED) or, when none comes, our own query.
 * out_refund_no is fixed per refund (`RF<transaction>` for money we cannot keep, `RO<order>` for an order's refund),
 * so asking again is always the same refund at WeChat Pay. ABNORMAL (the bank refused the way back), CLOSED and
 * refused requests are operator exceptions (`npm run refunds:exceptions`).
 */
export class RefundService {
  private readonly repo = new RefundRepository();
  private readonly orders: OrderService;

  constructor(private readonly deps: Deps) {
    this.orders = new OrderService(deps);
  }

  /** Money that came with a payment we do not credit (late, or a second payment): give it back, once. */
  async refundPayment(input: { orderNo: string; outTradeNo: string; transactionId: string; amountFen: number; kind: Extract<RefundKind, 'late-payment' | 'duplicate-payment'>; reason: string }): Promise<Refund> {
    const outRefundNo = `RF${input.transactionId}`.slice(0, 64);
    const at = this.now();
    await this.repo.record(this.deps.db.manager, { ...input, outRefundNo, totalFen: input.amountFen, state: 'REQUESTED' }, at);
    return this.submit(outRefundNo);
  }

  /** Refunds a paid order as a whole (the entitlement ends): OrderService.startRefund records it, then WeChat Pay is asked. */
  async refundOrder(orderNo: string, reason: string): Promise<Refund> {
    await this.orders.startRefund(orderNo, this.now(), reason);
    return this.submit(orderRefundNo(orderNo));
  }

  /**
   * Sends a REQUESTED refund to WeChat Pay (again: the same out_refund_no answers the existing refund). A failure
   * WeChat Pay answered (a 4xx: the request itself is wrong) is final, FAILED; anything else leaves it REQUESTED
   * for the next pass.
   */
  async submit(outRefundNo: string): Promise<Refund> {
    const em = this.deps.db.manager;
    const row = await this.repo.byOutRefundNo(em, outRefundNo);
    if (!row) throw new Error(`no refund ${outRefundNo} on record`);
    if (row.state !== 'REQUESTED') return row;
    const at = this.now();
    try {
      const answer = await this.deps.wechatpay.refund({ outTradeNo: row.outTradeNo, outRefundNo, refundFen: row.amountFen, totalFen: row.totalFen, reason: row.reason });
      await this.repo.update(em, row.id, 'REQUESTED', { attempts: row.attempts + 1, lastError: null, updatedAt: at });
      return this.apply(answer);
    } catch (err) {
      const final = err instanceof WechatPayError && err.kind === 'api' && (err.httpStatus ?? 500) >= 400 && (err.httpStatus ?? 500) < 500 && err.httpStatus !== 429;
      const lastError = `${err instanceof WechatPayError ? err.wechatCode ?? err.kind : 'error'}: ${(err as Error).message}`.slice(0, 200);
      await this.repo.update(em, row.id, 'REQUESTED', { attempts: row.attempts + 1, lastError, updatedAt: at, ...(final ? { state: 'FAILED', settledAt: at } : {}) });
      this.deps.logger[final ? 'error' : 'warn']({ orderNo: row.orderNo, outRefundNo, err: lastError }, final ? 'refund refused by WeChat Pay: operator exception' : 'refund request failed; the next pass asks again');
      return (await this.repo.byOutRefundNo(em, outRefundNo))!;
    }
  }

  /**
   * What WeChat Pay says about a refund (its answer, a verified refund notify, or our query). A refund we have no
   * record of (made on the merchant platform) is recorded, not dropped, under `orderNo` (the order its out_trade_no pays). SUCCESS of an order's refund ends the order
   * (REFUNDING → REFUNDED); ABNORMAL and CLOSED wait for a person.
   */
  async apply(refund: WechatPayRefund, orderNo = refund.out_trade_no): Promise<Refund> {
    const em = this.deps.db.manager;
    const at = this.now();
    let row = await this.repo.byOutRefundNo(em, refund.out_refund_no);
    if (!row) {
      this.deps.logger.warn({ orderNo: refund.out_trade_no, outRefundNo: refund.out_refund_no }, 'refund we did not ask for: recorded');
      await this.repo.record(em, {
        orderNo: orderNo.slice(0, 32), outTradeNo: refund.out_trade_no.slice(0, 32), outRefundNo: refund.out_refund_no, transactionId: refund.transaction_id ?? '', kind: 'external',
        amountFen: refund.amount?.refund ?? 0, totalFen: refund.amount?.total ?? 0, reason: '商户平台退款', state: 'PROCESSING',
      }, at);
      row = (await this.repo.byOutRefundNo(em, refund.out_refund_no))!;
    }
    const status = refund.status;
    // Guarded by the state read: when a notify and the request's own answer race, the loser reads again and
    // decides on what the winner wrote (a final state is never moved back to PROCESSING).
    let changed = false;
    for (let attempt = 0; attempt < 5 && !changed; attempt++) {
      if (attempt > 0) row = (await this.repo.byOutRefundNo(em, refund.out_refund_no))!;
      if (status === row.state || (status === 'PROCESSING' && FINAL.includes(row.state))) break;
      changed = await this.repo.update(em, row.id, row.state, {
        state: status, refundId: refund.refund_id ?? row.refundId, updatedAt: at, settledAt: FINAL.includes(status) ? at : null,
      });
    }
    if (changed && status === 'ABNORMAL') this.deps.logger.error({ orderNo: row.orderNo, outRefundNo: row.outRefundNo }, 'refund ABNORMAL (the money could not go back the original way): operator exception');
    if (changed && status === 'CLOSED') this.deps.logger.error({ orderNo: row.orderNo, outRefundNo: row.outRefundNo }, 'refund CLOSED: operator exception');
    if (status === 'SUCCESS' && row.kind === 'order') {
      await this.orders.markRefunded(row.orderNo, at).catch((err: unknown) => {
        if (!(err instanceof InvalidTransitionError)) throw err;
      });
    }
    return (await this.repo.byOutRefundNo(em, refund.out_refund_no))!;
  }

  /**
   * The periodic pass (every minute): refunds whose request did not get through are asked for again; refunds
   * PROCESSING for more than 5 minutes are queried (the notify may be lost), each at most every 5 minutes. One that
   * fails is logged and left for the next pass.
   */
  async followOpen(now: Date, limit = 50): Promise<{ resubmitted: number; queried: number; failed: number }> {
    const em = this.deps.db.manager;
    let resubmitted = 0;
    let queried = 0;
    let failed = 0;
    for (const row of await this.repo.stale(em, 'REQUESTED', new Date(now.getTime() - RESUBMIT_AFTER_MS), limit)) {
      const after = await this.submit(row.outRefundNo).catch(() => null);
      if (after && after.state !== 'REQUESTED') resubmitted++;
      else failed++;
    }
    for (const row of await this.repo.stale(em, 'PROCESSING', new Date(now.getTime() - QUERY_AFTER_MS), limit)) {
      try {
        const answer = await this.deps.wechatpay.queryRefund(row.outRefundNo);
        if (!answer) {
          // WeChat Pay never received it (the request was lost): ask for it again.
          await this.repo.update(em, row.id, 'PROCESSING', { state: 'REQUESTED', updatedAt: now });
        } else {
          const after = await this.apply(answer);
          if (after.state === 'PROCESSING') await this.repo.update(em, row.id, 'PROCESSING', { updatedAt: now });
        }
        queried++;
      } catch (err) {
        failed++;
        this.deps.logger.warn({ err, outRefundNo: row.outRefundNo }, 'refund query failed; the next pass asks again');
      }
    }
    return { resubmitted, queried, failed };
  }

  /** Refunds a person must look at (ABNORMAL, CLOSED, refused, or a transfer to pay back), oldest first. */
  exceptions(limit = 200): Promise<Refund[]> {
    return this.repo.exceptions(this.deps.db.manager, limit);
  }

  /** The operator handled it (e.g. refunded by hand on the merchant platform or by bank): it leaves the list. */
  resolve(outRefundNo: string, by: string): Promise<boolean> {
    return this.repo.resolve(this.deps.db.manager, outRefundNo, by, this.now());
  }

  ofOrder(orderNo: string): Promise<Refund[]> {
    return this.repo.ofOrder(this.deps.db.manager, orderNo);
  }

  private now(): Date {
    return new Date(this.deps.clock.nowMs());
  }
}
