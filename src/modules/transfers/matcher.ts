import { looksFiscal, normaliseText, yuanToFen } from './normalise';
import { remarkCode } from './transfer-code';

/** One line of a bank statement (credit side), as imported. */
export interface StatementLine {
  /** Line number in the file, for the operator's report. */
  line: number;
  date: string;
  payerName: string;
  payerAccount: string;
  payerBank: string;
  /** As printed (yuan). */
  amount: string;
  remark: string;
  /** The bank's own serial for the line: a line seen before is skipped. */
  bankSerial: string;
}

/** What the matcher needs to know about an open transfer order. */
export interface OpenTransferOrder {
  orderNo: string;
  amountFen: number;
  /** The organisation the certificates belong to (the payer must be it). */
  organizationName: string;
}

export type ExceptionReason = 'bad-amount' | 'remark-not-code' | 'unknown-code' | 'fiscal-payer' | 'amount-mismatch' | 'name-mismatch';

export type MatchDecision =
  | { kind: 'match'; orderNo: string; amountFen: number }
  | { kind: 'duplicate' }
  | { kind: 'exception'; reason: ExceptionReason; message: string; orderNo?: string };

const MESSAGES: Record<ExceptionReason, string> = {
  'bad-amount': '金额无法识别',
  'remark-not-code': '备注不是 6 位数字校验码（只能填写校验码，不能有其他内容）',
  'unknown-code': '校验码不对应任何待付款订单',
  'fiscal-payer': '付款账户为财政/国库/零余额账户，不予自动入账',
  'amount-mismatch': '金额与订单金额不一致',
  'name-mismatch': '付款单位名称与证书单位名称不一致',
};

const exception = (reason: ExceptionReason, orderNo?: string): MatchDecision => ({ kind: 'exception', reason, message: MESSAGES[reason], orderNo });

/**
 * Decides one statement line. Only a line that is beyond doubt is credited: the remark is exactly an open
 * order's code, the amount equals the order's to the fen, and the payer is the organisation itself (names
 * compared after normalising widths and brackets). Fiscal payers are refused outright, even when the name
 * matches: 零余额 accounts often carry the unit's own name, so they must go to a person.
 */
export function decide(line: StatementLine, lookup: { seen(bankSerial: string): boolean; openOrderByCode(code: string): OpenTransferOrder | undefined }): MatchDecision {
  if (lookup.seen(line.bankSerial)) return { kind: 'duplicate' };
  const amountFen = yuanToFen(line.amount);
  if (amountFen === null || amountFen <= 0) return exception('bad-amount');
  const code = remarkCode(line.remark);
  if (!code) return exception('remark-not-code');
  const order = lookup.openOrderByCode(code);
  if (!order) return exception('unknown-code');
  if (looksFiscal(line.payerName, line.payerAccount, line.payerBank)) return exception('fiscal-payer', order.orderNo);
  if (amountFen !== order.amountFen) return exception('amount-mismatch', order.orderNo);
  if (normaliseText(line.payerName) !== normaliseText(order.organizationName)) return exception('name-mismatch', order.orderNo);
  return { kind: 'match', orderNo: order.orderNo, amountFen };
}
