import { type Deps } from '../../deps';
import { ConflictError, ValidationError } from '../../lib/errors';
import { fenToYuanString } from '../invoices/amounts';
import { assertNoStandingInvoice } from '../invoices/refund-guard';
import { orderRefundNo, OrderService } from '../orders/service';
import { type Refund, RefundEntity, type RefundState } from './entities';
import { RefundService } from './service';

/** Fen as 元 for the finance pages; '—' when there is no amount. */
export const yuanText = (fen: number | null | undefined): string => (fen === null || fen === undefined ? '—' : fenToYuanString(fen));

export interface RefundProposal { orderNo: string; amountFen: number; reason: string }

export const REFUND_STATE_LABELS: Readonly<Record<RefundState, string>> = {
  REQUESTED: '待提交', PROCESSING: '退款中', SUCCESS: '已退款', CLOSED: '已关闭', ABNORMAL: '退款异常', FAILED: '被拒绝', MANUAL: '待人工退回',
};
export const REFUND_KIND_LABELS: Readonly<Record<string, string>> = {
  'late-payment': '超时付款退回', 'duplicate-payment': '重复付款退回', order: '订单退款', external: '商户平台退款',
};
/** What the operator does with a refund exception (the command's "to do", in the console's words). */
export const REFUND_TODO: Readonly<Record<string, string>> = {
  ABNORMAL: '原路退回失败（银行卡注销或冻结）：请在商户平台「交易中心 → 退款管理」人工退款后标记已处理',
  CLOSED: '微信支付关闭了退款，款项未退回：请人工重新退款后标记已处理',
  FAILED: '微信支付拒绝了退款请求（见错误）：处理后人工退款，再标记已处理',
  MANUAL: '对公汇款的订单：请通过银行把款项退回付款账户后标记已处理',
};

/**
 * The refunds the console proposes and approves (four-eyes kind 'refund'): a paid order refunded as a whole — what
 * the refunds service supports — through RefundService.refundOrder, which refuses an invoiced order until its
 * red-letter invoice is issued. Also the list of every refund and the exceptions of `npm run refunds:exceptions`.
 */
export class RefundConsole {
  private readonly orders: OrderService;
  private readonly refunds: RefundService;

  constructor(private readonly deps: Deps) {
    this.orders = new OrderService(deps);
    this.refunds = new RefundService(deps);
  }

  /** Checked when proposed (and again by the service when executed): a PAID order, the whole amount, no standing invoice. */
  async validate(p: RefundProposal): Promise<void> {
    if (!p.reason.trim()) throw new ValidationError('请填写退款原因', 'refund without reason');
    const order = await this.orders.getOrderHeader(p.orderNo);
    if (!order) throw new ValidationError(`订单 ${p.orderNo} 不存在，请核对订单号`, `refund of unknown order ${p.orderNo}`);
    if (order.state !== 'PAID') throw new ValidationError(`订单状态是 ${order.state}，只有已支付且未续期的订单可以退款`, `refund of ${p.orderNo} in ${order.state}`);
    const paid = order.paidAmountFen ?? order.totalFen;
    if (p.amountFen !== paid) throw new ValidationError(`只能全额退款（${(paid / 100).toFixed(2)} 元）：退款会终止订单的续期资格`, `refund of ${p.amountFen} fen on ${p.orderNo} paid ${paid}`);
    await assertNoStandingInvoice(this.deps.db.manager, p.orderNo);
  }

  /** The approved refund. Idempotent: the order's refund has one out_refund_no, and a refund already done answers with itself. */
  async execute(p: RefundProposal): Promise<Refund> {
    const order = await this.orders.getOrderHeader(p.orderNo);
    if (order && (order.state === 'REFUNDING' || order.state === 'REFUNDED')) {
      const existing = (await this.refunds.ofOrder(p.orderNo)).find((r) => r.outRefundNo === orderRefundNo(p.orderNo));
      if (existing) return existing.state === 'REQUESTED' ? this.refunds.submit(existing.outRefundNo) : existing;
    }
    if (order && order.state !== 'PAID') throw new ConflictError(`订单状态已变为 ${order.state}，不能退款`, `refund of ${p.orderNo} in ${order.state}`);
    return this.refunds.refundOrder(p.orderNo, p.reason);
  }

  async list(filter: { state?: string; orderNo?: string }, page: number, pageSize: number): Promise<{ items: Refund[]; total: number }> {
    const where = { ...(filter.state ? { state: filter.state as RefundState } : {}), ...(filter.orderNo ? { orderNo: filter.orderNo } : {}) };
    const [items, total] = await this.deps.db.getRepository(RefundEntity).findAndCount({ where, order: { id: 'DESC' }, skip: (page - 1) * pageSize, take: pageSize });
    return { items, total };
  }

  exceptions(): Promise<Refund[]> {
    return this.refunds.exceptions();
  }

  resolve(outRefundNo: string, by: string): Promise<boolean> {
    return this.refunds.resolve(outRefundNo, by);
  }

  byNumber(outRefundNo: string): Promise<Refund | null> {
    return this.deps.db.getRepository(RefundEntity).findOne({ where: { outRefundNo } });
  }
}
