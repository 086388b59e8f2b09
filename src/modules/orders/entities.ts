import { EntitySchema } from 'typeorm';
import { type OrderState } from './states';

/**
 * What one certificate of a project and type costs per year, in fen, and which terms (years) may be bought,
 * from effectiveFrom (inclusive) to effectiveTo (exclusive, null = open-ended). A new price is a new row
 * with a later effectiveFrom, so old orders keep pointing at the rule they were priced with.
 */
export interface PriceRule {
  id: number;
  project: string;
  certType: string;
  unitPriceFen: number;
  /** Comma-separated terms in years, each 1–5, e.g. "1,2,3,4,5" (see allowedYearsOf). */
  allowedYears: string;
  effectiveFrom: Date;
  effectiveTo: Date | null;
  createdAt: Date;
  /** The invoice line of an order priced by this rule (issue 11): name with its category, 税收分类编码, VAT rate in basis points. */
  invoiceItem?: string;
  taxCode?: string;
  taxRateBp?: number;
}

export const PriceRuleEntity = new EntitySchema<PriceRule>({
  name: 'PriceRule',
  tableName: 'price_rules',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    project: { type: String, length: 64 },
    certType: { name: 'cert_type', type: String, length: 32 },
    unitPriceFen: { name: 'unit_price_fen', type: Number },
    allowedYears: { name: 'allowed_years', type: String, length: 16 },
    effectiveFrom: { name: 'effective_from', type: Date },
    effectiveTo: { name: 'effective_to', type: Date, nullable: true },
    createdAt: { name: 'created_at', type: Date },
    invoiceItem: { name: 'invoice_item', type: String, length: 64, default: '*信息技术服务*数字证书服务费' },
    taxCode: { name: 'tax_code', type: String, length: 19, default: '3040201990000000000' },
    taxRateBp: { name: 'tax_rate_bp', type: Number, default: 600 },
  },
});

export type PaymentMethod = 'wechatpay' | 'transfer';
export type CloseReason = 'expired' | 'cancelled';

/** A renewal order: what the handler (openid) buys, for how much, and where it stands. Money in integer fen. */
export interface Order {
  id: number;
  /** Our order number (see order-number.ts), the out_trade_no of its first WeChat Pay attempt (later ones add -n: payments/attempts.ts); unique, unguessable. */
  orderNo: string;
  openid: string;
  state: OrderState;
  totalFen: number;
  currency: 'CNY';
  /** The term every line shares; null when lines were ordered for different terms. */
  years: number | null;
  /** Chosen on the order page; null until then. */
  paymentMethod: PaymentMethod | null;
  expiresAt: Date;
  paidAt: Date | null;
  paidAmountFen: number | null;
  /** WeChat Pay transaction_id or the bank serial of the transfer that paid it. */
  transactionId: string | null;
  closedAt: Date | null;
  closeReason: CloseReason | null;
  fulfilledAt: Date | null;
  refundingAt: Date | null;
  refundedAt: Date | null;
  sandbox: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export const OrderEntity = new EntitySchema<Order>({
  name: 'Order',
  tableName: 'orders',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    orderNo: { name: 'order_no', type: String, length: 32 },
    openid: { type: String, length: 64 },
    state: { type: String, length: 24 },
    totalFen: { name: 'total_fen', type: Number },
    currency: { type: String, length: 3 },
    years: { type: Number, nullable: true },
    paymentMethod: { name: 'payment_method', type: String, length: 16, nullable: true },
    expiresAt: { name: 'expires_at', type: Date },
    paidAt: { name: 'paid_at', type: Date, nullable: true },
    paidAmountFen: { name: 'paid_amount_fen', type: Number, nullable: true },
    transactionId: { name: 'transaction_id', type: String, length: 64, nullable: true },
    closedAt: { name: 'closed_at', type: Date, nullable: true },
    closeReason: { name: 'close_reason', type: String, length: 16, nullable: true },
    fulfilledAt: { name: 'fulfilled_at', type: Date, nullable: true },
    refundingAt: { name: 'refunding_at', type: Date, nullable: true },
    refundedAt: { name: 'refunded_at', type: Date, nullable: true },
    sandbox: { type: Boolean },
    createdAt: { name: 'created_at', type: Date },
    updatedAt: { name: 'updated_at', type: Date },
  },
  uniques: [{ name: 'uq_orders_order_no', columns: ['orderNo'] }],
});

/**
 * One certificate in an order. `openKey` holds the certificate id while the order is open (states.ts isOpen)
 * and NULL after: a plain unique index on it gives "at most one open order per certificate" on MySQL and
 * SQLite alike (both allow many NULLs in a unique index; MySQL has no partial index).
 */
export interface OrderLine {
  id: number;
  orderId: number;
  certificateId: number;
  years: number;
  unitPriceFen: number;
  amountFen: number;
  priceRuleId: number;
  openKey: string | null;
}

export const OrderLineEntity = new EntitySchema<OrderLine>({
  name: 'OrderLine',
  tableName: 'order_lines',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    orderId: { name: 'order_id', type: Number },
    certificateId: { name: 'certificate_id', type: Number },
    years: { type: Number },
    unitPriceFen: { name: 'unit_price_fen', type: Number },
    amountFen: { name: 'amount_fen', type: Number },
    priceRuleId: { name: 'price_rule_id', type: Number },
    openKey: { name: 'open_key', type: String, length: 32, nullable: true },
  },
  uniques: [{ name: 'uq_order_lines_open_key', columns: ['openKey'] }],
});
