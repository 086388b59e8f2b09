import { ValidationError } from '../../lib/errors';
import { type ApprovalKind } from '../console/approvals';
import { REFUND_STATE_LABELS, RefundConsole, type RefundProposal } from './console';

function checkShape(p: RefundProposal): void {
  const ok = typeof p?.orderNo === 'string' && /^[A-Za-z0-9-]{1,32}$/.test(p.orderNo) && Number.isSafeInteger(p.amountFen) && p.amountFen > 0 && typeof p.reason === 'string';
  if (!ok) throw new ValidationError('退款申请的内容不正确，请重新填写', 'bad refund payload');
}

/**
 * 退款 (four-eyes): a paid order refunded as a whole through WeChat Pay (a transfer order: recorded for a person to pay
 * back by bank). Executed by RefundService.refundOrder — the same refund as everywhere else, one out_refund_no per
 * order — so a retry asks WeChat Pay for the same refund and never refunds twice. An invoiced order is refused (by
 * the refund itself, and already when proposed) until its red-letter invoice is issued.
 */
export const refundKind: ApprovalKind<RefundProposal> = {
  kind: 'refund',
  role: 'finance',
  title: '退款',
  describe: (p) => `订单 ${p.orderNo} 全额退款 ${(p.amountFen / 100).toFixed(2)} 元`,
  async validate(deps, p) {
    checkShape(p);
    await new RefundConsole(deps).validate(p);
  },
  async execute(deps, p) {
    checkShape(p);
    const refund = await new RefundConsole(deps).execute(p);
    return { 退款单号: refund.outRefundNo, 状态: REFUND_STATE_LABELS[refund.state], ...(refund.lastError ? { 错误: refund.lastError } : {}) };
  },
};
