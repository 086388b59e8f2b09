import { EntitySchema, IsNull, type DataSource } from 'typeorm';
import { isUniqueViolation } from '../../lib/db/sql';
import { formatDateTime } from '../certificates/view-model';

/**
 * Order notices that WeChat refused to deliver because the user no longer follows the account (43004, or the
 * followers table already says so). The template message cannot reach them, so the order page says it instead:
 * 支付成功 until the user has seen it once; 汇款未通过 for as long as the order still waits for money (the user
 * must transfer again), and until seen after that.
 */
export type OrderNoticeKind = 'paid' | 'transfer-rejected' | 'cert-renewed';

export interface OrderNotice {
  id: number;
  /** The template message's client_msg_id: one row per message, however often the job runs. */
  noticeKey: string;
  orderNo: string;
  openid: string;
  kind: OrderNoticeKind;
  amountFen: number;
  /** 商品 (paid) or 原因 (transfer-rejected), as the message would have said it. */
  detail: string;
  errcode: number;
  /** 支付时间 (paid) or when the transfer was turned down. */
  happenedAt: Date;
  createdAt: Date;
  seenAt: Date | null;
}

export const OrderNoticeEntity = new EntitySchema<OrderNotice>({
  name: 'OrderNotice',
  tableName: 'order_notices',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    noticeKey: { name: 'notice_key', type: String, length: 64 },
    orderNo: { name: 'order_no', type: String, length: 32 },
    openid: { type: String, length: 64 },
    kind: { type: String, length: 24 },
    amountFen: { name: 'amount_fen', type: Number },
    detail: { type: String, length: 200 },
    errcode: { type: Number },
    happenedAt: { name: 'happened_at', type: Date },
    createdAt: { name: 'created_at', type: Date },
    seenAt: { name: 'seen_at', type: Date, nullable: true },
  },
  uniques: [{ name: 'uq_order_notices_key', columns: ['noticeKey'] }],
  indices: [{ name: 'idx_order_notices_order', columns: ['orderNo'] }, { name: 'idx_order_notices_openid', columns: ['openid'] }],
});

/** What the page shows: the message's title and its fields, as the template would have carried them. */
export interface OrderNoticeView {
  id: number;
  kind: OrderNoticeKind;
  orderNo: string;
  title: string;
  fields: Array<{ label: string; value: string }>;
}

const yuan = (fen: number) => `${(fen / 100).toFixed(2)}元`;

export function toNoticeView(n: OrderNotice): OrderNoticeView {
  if (n.kind === 'cert-renewed') return { id: n.id, kind: n.kind, orderNo: n.orderNo, title: '证书续期成功', fields: [{ label: '内容', value: n.detail }, { label: '时间', value: formatDateTime(n.happenedAt) }] };
  return n.kind === 'paid'
    ? { id: n.id, kind: n.kind, orderNo: n.orderNo, title: '订单支付成功', fields: [{ label: '金额', value: yuan(n.amountFen) }, { label: '商品', value: n.detail }, { label: '支付时间', value: formatDateTime(n.happenedAt) }] }
    : { id: n.id, kind: n.kind, orderNo: n.orderNo, title: '汇款未通过', fields: [{ label: '金额', value: yuan(n.amountFen) }, { label: '原因', value: n.detail }, { label: '时间', value: formatDateTime(n.happenedAt) }] };
}

export class OrderNoticeStore {
  constructor(private readonly db: DataSource) {}

  /** Keeps the notice once: a job run again for the same message finds it there already. */
  async recordUndelivered(notice: Omit<OrderNotice, 'id' | 'seenAt'>): Promise<void> {
    try {
      await this.db.getRepository(OrderNoticeEntity).insert({ ...notice, detail: [...notice.detail].slice(0, 200).join(''), seenAt: null });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
  }

  /** The notices the order page shows now; `still open`: the order waits for money, so a rejection stays relevant. */
  async visibleFor(orderNo: string, openid: string, stillOpen: boolean): Promise<OrderNotice[]> {
    const rows = await this.db.getRepository(OrderNoticeEntity).find({ where: { orderNo, openid }, order: { id: 'DESC' } });
    return rows.filter((n) => !n.seenAt || (n.kind === 'transfer-rejected' && stillOpen));
  }

  /** Notices of any order the user has not opened since: the order list points at them. */
  unseenOf(openid: string): Promise<OrderNotice[]> {
    return this.db.getRepository(OrderNoticeEntity).find({ where: { openid, seenAt: IsNull() }, order: { id: 'DESC' }, take: 20 });
  }

  async markSeen(ids: number[], at: Date): Promise<void> {
    for (const id of ids) await this.db.getRepository(OrderNoticeEntity).update({ id, seenAt: IsNull() }, { seenAt: at });
  }
}
