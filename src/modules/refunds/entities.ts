import { EntitySchema } from 'typeorm';

/**
 * Why money goes back: a payment for an order already closed (late), a second payment of a paid order
 * (duplicate), a refund of the order itself (OrderService.startRefund: the entitlement ends), or a refund we did not
 * ask for that a refund notify told us of (made on the merchant platform).
 */
export type RefundKind = 'late-payment' | 'duplicate-payment' | 'order' | 'external';

/**
 * REQUESTED: recorded, WeChat Pay has not accepted it yet (the call failed or is under way: the pass asks again with
 * the same out_refund_no); PROCESSING / SUCCESS / CLOSED / ABNORMAL: WeChat Pay's own states; FAILED: WeChat Pay
 * refused the request itself; MANUAL: paid by bank transfer, so a person sends the money back.
 */
export type RefundState = 'REQUESTED' | 'PROCESSING' | 'SUCCESS' | 'CLOSED' | 'ABNORMAL' | 'FAILED' | 'MANUAL';
/** States no WeChat Pay answer will change: a person must act (listed by `npm run refunds:exceptions`). */
export const EXCEPTION_STATES: readonly RefundState[] = ['ABNORMAL', 'CLOSED', 'FAILED', 'MANUAL'];

export interface Refund {
  id: number;
  orderNo: string;
  /** The out_trade_no WeChat Pay took the money on (the order's number, or a payment attempt's own). */
  outTradeNo: string;
  /** Fixed per refund (derived from the payment or the order), so every retry is the same refund at WeChat Pay. */
  outRefundNo: string;
  /** The payment the money came with (WeChat Pay transaction_id, or BANK-… for a transfer). */
  transactionId: string;
  kind: RefundKind;
  amountFen: number;
  /** The payment's total (WeChat Pay wants it with every refund). */
  totalFen: number;
  reason: string;
  state: RefundState;
  refundId: string | null;
  attempts: number;
  lastError: string | null;
  createdAt: Date;
  updatedAt: Date;
  settledAt: Date | null;
  resolvedAt: Date | null;
  resolvedBy: string | null;
}

export const RefundEntity = new EntitySchema<Refund>({
  name: 'Refund',
  tableName: 'refunds',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    orderNo: { name: 'order_no', type: String, length: 32 },
    outTradeNo: { name: 'out_trade_no', type: String, length: 32 },
    outRefundNo: { name: 'out_refund_no', type: String, length: 64 },
    transactionId: { name: 'transaction_id', type: String, length: 64 },
    kind: { type: String, length: 24 },
    amountFen: { name: 'amount_fen', type: Number },
    totalFen: { name: 'total_fen', type: Number },
    reason: { type: String, length: 80 },
    state: { type: String, length: 16 },
    refundId: { name: 'refund_id', type: String, length: 64, nullable: true },
    attempts: { type: Number, default: 0 },
    lastError: { name: 'last_error', type: String, length: 200, nullable: true },
    createdAt: { name: 'created_at', type: Date },
    updatedAt: { name: 'updated_at', type: Date },
    settledAt: { name: 'settled_at', type: Date, nullable: true },
    resolvedAt: { name: 'resolved_at', type: Date, nullable: true },
    resolvedBy: { name: 'resolved_by', type: String, length: 64, nullable: true },
  },
  uniques: [{ name: 'uq_refunds_out_refund_no', columns: ['outRefundNo'] }],
  indices: [{ name: 'idx_refunds_state', columns: ['state', 'updatedAt'] }, { name: 'idx_refunds_order', columns: ['orderNo'] }],
});
