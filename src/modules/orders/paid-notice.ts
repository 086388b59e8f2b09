import { type OwedNotice } from '../notices/outbox';

export const ORDER_PAID_NOTICE_JOB = 'orders.paid-notice';

/** 订单支付成功, owed from the moment markPaid credits the order (recorded in that transaction; sent by payments/notices.ts). */
export const orderPaidNotice = (orderNo: string): OwedNotice => ({ key: `paid-${orderNo}`, job: ORDER_PAID_NOTICE_JOB, payload: { orderNo } });
