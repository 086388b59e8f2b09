import { type Deps } from '../../deps';
import { formatDateTime } from '../certificates/view-model';
import { ascii32, deliverTemplate, ERRCODE_REQUIRE_SUBSCRIBE, thing20 } from '../followers/template-delivery';
import { NoticeOutbox, type NoticeOutcome, noticeKeyOf, type OwedNotice } from '../notices/outbox';
import { ORDER_PAID_NOTICE_JOB } from '../orders/paid-notice';
import { OrderService } from '../orders/service';
import { type OrderNoticeKind, OrderNoticeStore } from './undelivered-notices';

export { ORDER_PAID_NOTICE_JOB, orderPaidNotice } from '../orders/paid-notice';
export const TRANSFER_REJECTED_NOTICE_JOB = 'orders.transfer-rejected-notice';

const yuan = (fen: number) => `${(fen / 100).toFixed(2)}元`;

/** 汇款未通过, owed once the statement line is settled as an exception (recorded in that transaction). */
export const transferRejectedNotice = (orderNo: string, bankSerial: string, reason: string): OwedNotice =>
  ({ key: `rej-${bankSerial}`, job: TRANSFER_REJECTED_NOTICE_JOB, payload: { orderNo, bankSerial, reason } });

/**
 * Template messages about orders (类目模板: 订单支付成功 with character_string1 订单号, amount2 金额, thing3 商品,
 * time4 支付时间; 汇款未通过 with character_string1 订单号, amount2 金额, thing3 原因). Each is an owed notice
 * (notices/outbox.ts): the job sends it only while it is owed and records how it ended, and client_msg_id makes a
 * retried job a no-op at WeChat. A user who no longer follows (43004, or the followers table says so already: then
 * WeChat is not asked) cannot get it: the notice is kept (undelivered-notices.ts) and the order page shows it
 * instead. Such a refusal will not change on retry, so the job ends there; so does any other final refusal (logged).
 */
export function registerOrderNoticeJobs(deps: Deps): void {
  const orders = new OrderService(deps);
  const undelivered = new OrderNoticeStore(deps.db);
  const outbox = new NoticeOutbox(deps);
  const templates = deps.config.wechat.templates ?? {};
  interface Notice { kind: OrderNoticeKind; amountFen: number; detail: string; happenedAt: Date }
  const send = async (openid: string, templateId: string, clientMsgId: string, orderNo: string, data: Record<string, string>, notice: Notice): Promise<NoticeOutcome> => {
    const key = ascii32(clientMsgId);
    const url = `${deps.config.publicBaseUrl}/h5/orders/${encodeURIComponent(orderNo)}`;
    const delivery = await deliverTemplate(deps, { touser: openid, template_id: templateId, client_msg_id: key, url, data }, `order ${orderNo}`);
    // Kept for the order page, which shows what the message would have said.
    if (delivery === 'not-following') {
      await undelivered.recordUndelivered({ noticeKey: key, orderNo, openid, ...notice, errcode: ERRCODE_REQUIRE_SUBSCRIBE, createdAt: new Date(deps.clock.nowMs()) });
    }
    return delivery;
  };

  deps.jobs.register(ORDER_PAID_NOTICE_JOB, async (payload) => {
    const orderNo = String(payload.orderNo);
    await outbox.deliver(noticeKeyOf(payload, `paid-${orderNo}`), async () => {
      const order = await orders.getOrder(orderNo);
      if (!order || !templates.orderPaid || (order.state !== 'PAID' && order.state !== 'FULFILLED')) return 'skipped';
      const amountFen = order.paidAmountFen ?? order.totalFen;
      const product = thing20(`数字证书续期${order.lines.length}张`);
      const paidAt = order.paidAt ?? new Date(deps.clock.nowMs());
      return send(order.openid, templates.orderPaid, `paid-${order.orderNo}`, order.orderNo, {
        character_string1: ascii32(order.orderNo), amount2: yuan(amountFen), thing3: product, time4: formatDateTime(paidAt),
      }, { kind: 'paid', amountFen, detail: product, happenedAt: paidAt });
    });
  });

  deps.jobs.register(TRANSFER_REJECTED_NOTICE_JOB, async (payload) => {
    const bankSerial = String(payload.bankSerial);
    await outbox.deliver(noticeKeyOf(payload, `rej-${bankSerial}`), async () => {
      const order = await orders.getOrder(String(payload.orderNo));
      if (!order || !templates.transferRejected) return 'skipped';
      return send(order.openid, templates.transferRejected, `rej-${bankSerial}`, order.orderNo, {
        character_string1: ascii32(order.orderNo), amount2: yuan(order.totalFen), thing3: thing20(String(payload.reason)),
      }, { kind: 'transfer-rejected', amountFen: order.totalFen, detail: String(payload.reason), happenedAt: new Date(deps.clock.nowMs()) });
    });
  });
}
