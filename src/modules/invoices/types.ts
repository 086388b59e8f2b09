import { type BuyerKind, type InvoiceBuyer } from './schemas';

/**
 * The views of 我的发票 (issue 11): what the H5 pages (/h5/invoices, owned by the pages' routes) and the operator commands call.
 * Everything is scoped by the WeChat openid of the handler who paid: a request, an order or a saved title of another
 * openid is "not found" (never "forbidden", which would confirm it exists).
 *
 * Issuance itself is asynchronous (issuance.ts, through the job queue): `request` only records the request in one
 * transaction and queues its first attempt after the commit.
 */

/** The status shown in 开票历史. */
export const INVOICE_STATUSES = ['issuing', 'issued', 'failed', 'awaiting-buyer', 'reversed'] as const;
export type InvoiceStatus = (typeof INVOICE_STATUSES)[number];
export const INVOICE_STATUS_LABELS: Readonly<Record<InvoiceStatus, string>> = {
  issuing: '开票中',
  issued: '已开具',
  failed: '开具失败',
  'awaiting-buyer': '待购方确认',
  reversed: '已红冲',
};

/** 蓝字 = the invoice itself; 红字 = the red-letter invoice that reverses one (both stay in history). */
export type InvoiceDirection = 'blue' | 'red';
/** 数电票 (20-digit number, no code) or the old 电子普票 (8-digit number + 12-digit code), kept for history. */
export type InvoiceKind = 'digital' | 'legacy';

/** A paid order that can still be invoiced (待开票). */
export interface InvoiceableOrder {
  orderNo: string;
  state: 'PAID' | 'FULFILLED';
  /** What was paid, in fen (the invoice's 价税合计 for this order's line). */
  amountFen: number;
  paidAt: Date;
  /** The certificates' organisation (the first one's, when they differ); null when the certificate names none. */
  organisation: string | null;
  /** The certificates' 统一社会信用代码, when the certificate carries one. */
  creditCode: string | null;
  certificateCount: number;
}

/** One row of 开票历史. */
export interface InvoiceSummary {
  /** 受理单号: our number for the request, stable across attempts. */
  acceptanceNo: string;
  direction: InvoiceDirection;
  title: string;
  buyerKind: BuyerKind;
  status: InvoiceStatus;
  statusLabel: string;
  /** 价税合计 in fen (negative for a red-letter invoice). */
  totalFen: number;
  orderNos: string[];
  /** 发票号码 once issued (20 digits for a 数电票). */
  invoiceNumber: string | null;
  /** 发票代码 (old-style invoices only). */
  invoiceCode: string | null;
  kind: InvoiceKind | null;
  /** 开票时间 once issued. */
  issuedAt: Date | null;
  requestedAt: Date;
}

export interface InvoiceHistoryPage {
  items: InvoiceSummary[];
  page: number;
  pageSize: number;
  total: number;
  hasMore: boolean;
}

export interface InvoiceLineView {
  orderNo: string;
  itemName: string;
  quantity: number;
  /** Basis points: 600 = 6%. */
  taxRateBp: number;
  taxRateLabel: string;
  totalFen: number;
  amountFen: number;
  taxFen: number;
}

export interface InvoiceFileView {
  kind: 'pdf' | 'ofd' | 'xml';
  contentType: string;
  sizeBytes: number;
  /** Download path under the invoice link (/i/<token>/<kind>), null when no live link exists. */
  url: string | null;
}

/** Everything the detail page shows, for the request's owner only. */
export interface InvoiceDetail extends InvoiceSummary {
  buyer: InvoiceBuyer;
  lines: InvoiceLineView[];
  taxFen: number;
  amountFen: number;
  /** The reason of the last failure (shown to the owner in plain words), null unless failed. */
  failureReason: string | null;
  files: InvoiceFileView[];
  /** The copyable invoice link (absolute URL, /i/<token>), null until issued or once revoked. */
  link: string | null;
  /** The red-letter invoice that reverses this one, or the blue one this red one reverses. */
  relatedAcceptanceNo: string | null;
  /** 红字确认单 state while a red letter is under way ('awaiting-buyer'), or 'revoked' (已撤销) when it was withdrawn. */
  redLetterState: 'awaiting-buyer' | 'revoked' | null;
  /** The last e-mail of the PDF: 'sent', 'sending' (queued or being retried), 'failed' (gave up), null none yet. */
  emailState: 'sending' | 'sent' | 'failed' | null;
}

/** A title the buyer used before (offered on the form). Kept until deleted (PIPL), see README retention. */
export interface SavedTitle {
  id: number;
  buyer: InvoiceBuyer;
  lastUsedAt: Date;
}

export interface TitleSuggestions {
  /** The form prefilled from the organisation on the selected orders' certificates (or the most recent title). */
  prefill: Partial<InvoiceBuyer>;
  /** The organisations on the handler's invoiceable orders' certificates: a title differing from them is warned. */
  organisations: string[];
  recent: SavedTitle[];
}

export interface InvoiceRequestInput {
  orderNos: string[];
  buyer: InvoiceBuyer;
  /** Keep this title for next time (default true). */
  saveTitle?: boolean;
}

export interface InvoiceRequestResult {
  acceptanceNo: string;
  /** false: the same orders were already requested by this openid (a second tap): that request is answered. */
  created: boolean;
  /** Set when the title differs from the certificate's organisation (allowed, only warned). */
  titleWarning: string | null;
}

/** Absolute URL of an invoice link. */
export const invoiceLinkUrl = (publicBaseUrl: string, token: string): string => `${publicBaseUrl}/i/${token}`;
/** The detail page of a request (the template message links here). */
export const invoiceDetailPath = (acceptanceNo: string): string => `/h5/invoices/${encodeURIComponent(acceptanceNo)}`;
