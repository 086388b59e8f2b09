import { UpstreamError } from '../../lib/errors';
import { type TaxRateBp } from '../../modules/invoices/amounts';

/**
 * The e-invoice provider, seen from our side (issue 11). One interface, two implementations: the Nuonuo (诺诺)
 * open platform for real invoices and a local sandbox issuer with the same asynchronous behaviour.
 *
 * The flow the job queue drives: submit an attempt → poll `query` until issued or failed → on sealing failure
 * `reInvoice` (never a new submission). Every submission carries our 受理单号 (one per invoice request, shown to
 * the buyer) and an attempt key (one per attempt: a retry after the buyer corrected the title is a new attempt
 * with a new key; re-sending the SAME attempt after a timeout reuses its key, and the provider then answers
 * `already-submitted`, which means "query it", never "submit again").
 */

/** Attempt keys become the provider's order number (Nuonuo: ≤ 20 characters, unique per seller, forever). */
export const ATTEMPT_KEY = /^[A-Za-z0-9]{6,20}$/;

export interface EInvoiceBuyer {
  kind: 'organisation' | 'individual';
  /** 抬头: the organisation's or the person's name. */
  name: string;
  /** 纳税人识别号; absent for most individuals. */
  taxId?: string;
  bankName?: string;
  bankAccount?: string;
  address?: string;
  /** 电话 on the invoice (landline or mobile). */
  phone?: string;
  /** Where the provider delivers the invoice; we also mail our own copy. */
  email: string;
  /** 手机号 for the provider's SMS delivery. */
  mobile?: string;
}

/** One invoice line. Amounts are integer fen and already split (see splitTaxInclusive): amount + tax = total. */
export interface EInvoiceLine {
  /** The name as printed, with its category: '*信息技术服务*数字证书服务费'. The provider adds the category itself
   * from the classification code, so implementations pass the part after the second '*'. */
  itemName: string;
  /** 商品和服务税收分类编码, 19 digits, from the price rule. */
  taxClassificationCode: string;
  /** 规格型号, e.g. the certificate kind. */
  specification?: string;
  unit?: string;
  quantity: number;
  taxRate: TaxRateBp;
  /** Tax-inclusive total of the line (what was paid for it). */
  totalFen: number;
  /** 金额 excluding tax. */
  amountFen: number;
  /** 税额. */
  taxFen: number;
}

export interface EInvoiceSubmitRequest {
  /** Our 受理单号, shown to the buyer and operators; stable across attempts. */
  acceptanceNo: string;
  /** Per-attempt idempotency key (ATTEMPT_KEY). */
  attemptKey: string;
  buyer: EInvoiceBuyer;
  lines: EInvoiceLine[];
  /** When the request was made (the provider's 单据时间). */
  requestedAt: Date;
  remark?: string;
}

export type SubmitOutcome =
  /** The provider took the attempt; `serial` is its 发票流水号 to query. */
  | { kind: 'accepted'; serial: string }
  /** The attempt key was used before (a resend after a lost answer): query by attempt key, never submit again. */
  | { kind: 'already-submitted' }
  /** The provider refused the content (e.g. a tax ID the bureau does not know): this attempt is over; an operator
   * or the buyer corrects the data and a NEW attempt is made. `code` and `reason` are for operators. */
  | { kind: 'refused'; code: string; reason: string };

/** A file the provider returned: a URL that expires (fetch and keep our own copy) or the bytes themselves. */
export type EInvoiceFile = { url: string } | { bytes: Buffer; contentType: string };

export interface EInvoiceFiles {
  pdf?: EInvoiceFile;
  /** The 原始凭证 where the provider returns one. */
  ofd?: EInvoiceFile;
  xml?: EInvoiceFile;
}

export interface IssuedInvoice {
  serial: string;
  attemptKey: string;
  /** 'digital' = 数电票 (20-digit number, no code); 'legacy' = old 电子普票 (8-digit number + 10/12-digit code). */
  kind: 'digital' | 'legacy';
  number: string;
  code?: string;
  issuedAt: Date;
  totalFen: number;
  taxFen: number;
  files: EInvoiceFiles;
}

export type QueryOutcome =
  | { state: 'in-progress'; serial: string; attemptKey: string }
  | ({ state: 'issued' } & IssuedInvoice)
  | { state: 'failed'; serial: string; attemptKey: string; reason: string }
  /** Issued by the bureau but the provider's seal failed: call reInvoice(serial), never submit again. */
  | { state: 'sealing-failed'; serial: string; attemptKey: string; reason: string }
  /** The provider has no such attempt (e.g. the submission never arrived): safe to submit the attempt again. */
  | { state: 'not-found' };

export type InvoiceRef = { serial: string } | { attemptKey: string };

export type ReInvoiceOutcome = { kind: 'retrying' } | { kind: 'already-issued' } | { kind: 'refused'; code: string; reason: string };

/** 冲红原因 as the bureau numbers them. */
export type RedReason = 'sales-return' | 'issued-in-error' | 'service-stopped' | 'sales-allowance';

export interface RedLetterRequest {
  /** Our id for the 红字确认单 (≤ 32 characters), unique: a resend with the same id is the same request. */
  confirmId: string;
  /** The red invoice's attempt key (it is an invoice of its own, with its own order number). */
  attemptKey: string;
  blue: { kind: 'digital' | 'legacy'; number: string; code?: string; issuedAt: Date };
  buyer: Pick<EInvoiceBuyer, 'name' | 'taxId' | 'email' | 'mobile'>;
  reason: RedReason;
}

export type RedLetterOutcome =
  /** No buyer confirmation needed: the red invoice is being issued; query it by `serial` or attempt key. */
  | { kind: 'issuing'; serial?: string; confirmId: string }
  /** The buyer (a VAT-registered organisation that has the blue invoice on its books) must confirm in the 电子税局. */
  | { kind: 'awaiting-buyer'; confirmId: string }
  | { kind: 'refused'; code: string; reason: string };

export type RedConfirmState =
  /** Filed, the bureau has not answered yet. */
  | { state: 'applying'; confirmId: string }
  | { state: 'awaiting-buyer'; confirmId: string }
  /** No confirmation needed, or both sides confirmed; `red` is the red invoice once it is issued. */
  | { state: 'confirmed'; confirmId: string; redSerial?: string; redNumber?: string }
  /** Refused by the buyer, withdrawn, or expired (72 hours unconfirmed): the blue invoice stands. */
  | { state: 'revoked'; confirmId: string; reason: string }
  | { state: 'failed'; confirmId: string; reason: string }
  | { state: 'not-found' };

export interface IssueRedRequest {
  confirmId: string;
  attemptKey: string;
  blue: RedLetterRequest['blue'];
}

/**
 * The 开票员's standing at the 电子税局 and the seller's 授信额度: issuing stalls (status 20 for hours, then 22) when
 * the clerk's login lapsed, 实人认证 is due, or the credit line is used up. `unknown` where the provider did not say.
 */
export interface IssuerStatus {
  clerk: string;
  login: 'logged-in' | 'logged-out' | 'unknown';
  /** 实人认证 (face check of the clerk, periodic): done, due now, or unknown. */
  identityCheck: 'valid' | 'required' | 'unknown';
  /** 授信额度 left and total, in fen (null when unknown). */
  creditLeftFen: number | null;
  creditTotalFen: number | null;
  /** The provider's own words, for the operator. */
  detail: string;
}

export interface EInvoiceProvider {
  readonly mode: 'real' | 'sandbox';
  issuerStatus(): Promise<IssuerStatus>;
  submit(request: EInvoiceSubmitRequest): Promise<SubmitOutcome>;
  query(ref: InvoiceRef): Promise<QueryOutcome>;
  /** After `sealing-failed` (Nuonuo status 24) or a failure the provider says can be retried as is. */
  reInvoice(serial: string): Promise<ReInvoiceOutcome>;
  /** Files a 红字确认单 for a 数电票; issues the red invoice at once where no buyer confirmation is needed. */
  requestRedLetter(request: RedLetterRequest): Promise<RedLetterOutcome>;
  queryRedConfirm(confirmId: string): Promise<RedConfirmState>;
  /** Issues the red invoice for a confirmed 红字确认单 that was not issued automatically (Nuonuo: fastInvoiceRed). */
  issueRed(request: IssueRedRequest): Promise<SubmitOutcome>;
}

/** Transport and gateway failures (network, 5xx, bad signature, credentials): retry the SAME call later. */
export class EInvoiceUpstreamError extends UpstreamError {
  constructor(code: string, detail: string, options?: { cause?: unknown }) {
    super('开票服务暂时不可用，请稍后再试', detail, code, options);
    this.name = 'EInvoiceUpstreamError';
  }
}
