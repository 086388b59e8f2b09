import { EntitySchema } from 'typeorm';

/**
 * DONE: the bill was read and compared (findings, if any, are listed); EMPTY: WeChat Pay has no bill for the day
 * (NO_STATEMENT_EXIST, a day without trades) and we recorded no WeChat Pay money either; FAILED: the last try
 * could not get or read the bill (the next pass tries again).
 */
export type BillRunState = 'DONE' | 'EMPTY' | 'FAILED';

export interface BillRun {
  id: number;
  /** The Beijing day the bill covers, yyyy-MM-dd. */
  billDate: string;
  state: BillRunState;
  billRows: number;
  billPaymentFen: number;
  billRefundFen: number;
  findings: number;
  attempts: number;
  lastError: string | null;
  startedAt: Date;
  finishedAt: Date | null;
}

export const BillRunEntity = new EntitySchema<BillRun>({
  name: 'WechatPayBillRun',
  tableName: 'wechatpay_bill_runs',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    billDate: { name: 'bill_date', type: String, length: 10 },
    state: { type: String, length: 16 },
    billRows: { name: 'bill_rows', type: Number, default: 0 },
    billPaymentFen: { name: 'bill_payment_fen', type: Number, default: 0 },
    billRefundFen: { name: 'bill_refund_fen', type: Number, default: 0 },
    findings: { type: Number, default: 0 },
    attempts: { type: Number, default: 0 },
    lastError: { name: 'last_error', type: String, length: 200, nullable: true },
    startedAt: { name: 'started_at', type: Date },
    finishedAt: { name: 'finished_at', type: Date, nullable: true },
  },
  uniques: [{ name: 'uq_wechatpay_bill_runs_date', columns: ['billDate'] }],
});

/**
 * What differs between the bill and our records:
 * - missing-here: WeChat Pay took money we have no record of (credited after our own query confirmed it, or open);
 * - missing-there: we recorded a WeChat Pay payment of that day the bill does not hold;
 * - amount-mismatch: both hold the payment, with different amounts;
 * - refund-missing-here: a refund in the bill we have no record of (recorded after our query, as 商户平台退款);
 * - refund-missing-there: a refund WeChat Pay accepted on that day by our records, absent from the bill;
 * - refund-amount-mismatch.
 */
export type FindingKind = 'missing-here' | 'missing-there' | 'amount-mismatch' | 'refund-missing-here' | 'refund-missing-there' | 'refund-amount-mismatch';
/** credited / recorded: the check itself repaired our records (after querying WeChat Pay); open: a person must look. */
export type FindingOutcome = 'credited' | 'recorded' | 'open';

export interface BillFinding {
  id: number;
  billDate: string;
  kind: FindingKind;
  outTradeNo: string;
  /** '' for payment findings (part of the unique key, so never null). */
  outRefundNo: string;
  transactionId: string | null;
  oursFen: number | null;
  theirsFen: number | null;
  outcome: FindingOutcome;
  detail: string;
  createdAt: Date;
  resolvedAt: Date | null;
  resolvedBy: string | null;
}

export const BillFindingEntity = new EntitySchema<BillFinding>({
  name: 'WechatPayBillFinding',
  tableName: 'wechatpay_bill_findings',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    billDate: { name: 'bill_date', type: String, length: 10 },
    kind: { type: String, length: 32 },
    outTradeNo: { name: 'out_trade_no', type: String, length: 32 },
    outRefundNo: { name: 'out_refund_no', type: String, length: 64 },
    transactionId: { name: 'transaction_id', type: String, length: 64, nullable: true },
    oursFen: { name: 'ours_fen', type: Number, nullable: true },
    theirsFen: { name: 'theirs_fen', type: Number, nullable: true },
    outcome: { type: String, length: 16 },
    detail: { type: String, length: 200 },
    createdAt: { name: 'created_at', type: Date },
    resolvedAt: { name: 'resolved_at', type: Date, nullable: true },
    resolvedBy: { name: 'resolved_by', type: String, length: 64, nullable: true },
  },
  uniques: [{ name: 'uq_wechatpay_bill_findings', columns: ['billDate', 'kind', 'outTradeNo', 'outRefundNo'] }],
  indices: [{ name: 'idx_wechatpay_bill_findings_open', columns: ['outcome', 'resolvedAt'] }],
});
