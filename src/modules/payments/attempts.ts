import { type EntityManager, EntitySchema, IsNull } from 'typeorm';

/**
 * One WeChat Pay payment attempt of an order: the out_trade_no it was prepaid under and the time_expire first sent
 * for it. WeChat Pay (JSAPI下单): "time_expire 参数仅在用户首次下单时可设置，且不允许后续修改" and "若用户实际进行支付的时间
 * 超过了订单设置的支付结束时间，商户需使用新的商户订单号下单". So the time_expire of an attempt is fixed, sent again on every
 * later prepay of it, and once it has passed (or is about to) while the order can still be paid — a deadline
 * extended by 对公汇款 — the attempt is closed at WeChat Pay and a new one (a new out_trade_no) is made. At most one
 * attempt is open at a time: the old one is closed at WeChat Pay before the next is created.
 */
export interface WechatPayAttempt {
  id: number;
  orderId: number;
  orderNo: string;
  /** 1, 2, …: attempt 1 uses the order number itself, attempt n the order number + `-n`. */
  seq: number;
  outTradeNo: string;
  /** The time_expire sent on the first prepay of this out_trade_no, and on every later one. */
  timeExpire: Date;
  createdAt: Date;
  /** When WeChat Pay confirmed it closed (or never knew it): it can no longer be paid. */
  closedAt: Date | null;
}

export const WechatPayAttemptEntity = new EntitySchema<WechatPayAttempt>({
  name: 'WechatPayAttempt',
  tableName: 'wechatpay_attempts',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    orderId: { name: 'order_id', type: Number },
    orderNo: { name: 'order_no', type: String, length: 32 },
    seq: { type: Number },
    outTradeNo: { name: 'out_trade_no', type: String, length: 32 },
    timeExpire: { name: 'time_expire', type: Date },
    createdAt: { name: 'created_at', type: Date },
    closedAt: { name: 'closed_at', type: Date, nullable: true },
  },
  uniques: [
    { name: 'uq_wechatpay_attempts_out_trade_no', columns: ['outTradeNo'] },
    { name: 'uq_wechatpay_attempts_order_seq', columns: ['orderId', 'seq'] },
  ],
});

/** out_trade_no of attempt `seq`: order numbers (R + 24 characters, no '-') leave room for the suffix within 32. */
export const outTradeNoOf = (orderNo: string, seq: number) => (seq === 1 ? orderNo : `${orderNo}-${seq}`);

export class WechatPayAttemptRepository {
  /** The order's attempts, oldest first. */
  ofOrder(em: EntityManager, orderNo: string): Promise<WechatPayAttempt[]> {
    return em.find(WechatPayAttemptEntity, { where: { orderNo }, order: { seq: 'ASC' } });
  }

  /** The order's open attempt (not closed at WeChat Pay), if any: the newest. */
  async open(em: EntityManager, orderNo: string): Promise<WechatPayAttempt | null> {
    return em.findOne(WechatPayAttemptEntity, { where: { orderNo, closedAt: IsNull() }, order: { seq: 'DESC' } });
  }

  byOutTradeNo(em: EntityManager, outTradeNo: string): Promise<WechatPayAttempt | null> {
    return em.findOne(WechatPayAttemptEntity, { where: { outTradeNo } });
  }

  /** Records attempt `seq` before it is sent to WeChat Pay; a racing creator hits the unique (order, seq). */
  async create(em: EntityManager, a: Omit<WechatPayAttempt, 'id' | 'closedAt' | 'outTradeNo'>): Promise<WechatPayAttempt> {
    const row = { ...a, outTradeNo: outTradeNoOf(a.orderNo, a.seq), closedAt: null };
    const result = await em.insert(WechatPayAttemptEntity, row);
    return { ...row, id: Number(result.identifiers[0].id) };
  }

  async markClosed(em: EntityManager, id: number, at: Date): Promise<void> {
    await em.update(WechatPayAttemptEntity, { id, closedAt: IsNull() }, { closedAt: at });
  }
}
