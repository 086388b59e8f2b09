import { EntitySchema } from 'typeorm';

/**
 * The invoice records (issue 11). An invoice request (受理单号) covers one or more paid orders, one line each; it is
 * sent to the provider as attempts (one provider order number each); what the provider returns is kept as our
 * own files; the buyer opens them through revocable links. Retention: README "Invoices: retention".
 */

/** issuing → issued | failed; issued → awaiting-buyer (红字确认单 waits) → reversed, or back to issued (已撤销). */
export type RequestStatus = 'issuing' | 'issued' | 'failed' | 'awaiting-buyer' | 'reversed';

export interface InvoiceRequestRow {
  id: number;
  acceptanceNo: string;
  openid: string;
  /** 'blue' the invoice; 'red' the red-letter invoice reversing `reversesId`. */
  direction: 'blue' | 'red';
  reversesId: number | null;
  /** A blue request made to replace a reversed one (corrected title). */
  replacesId: number | null;
  buyerKind: 'organisation' | 'individual';
  /** 抬头, printed on the invoice and kept with it (tax record). */
  title: string;
  /** The other buyer fields (税号, bank, address, phone, e-mail, mobile) as JSON sealed with the PII vault. */
  buyerSealed: string;
  totalFen: number;
  amountFen: number;
  taxFen: number;
  status: RequestStatus;
  failureReason: string | null;
  /** The attempt now in charge (1-based). */
  attemptNo: number;
  kind: 'digital' | 'legacy' | null;
  invoiceCode: string | null;
  /** Up to 20 characters: 20-digit 数电票 numbers, 8-digit old ones. */
  invoiceNumber: string | null;
  issuedAt: Date | null;
  /** 红字确认单 id and its last known state (on the blue request). */
  redConfirmId: string | null;
  redState: string | null;
  sandbox: boolean;
  /** When an individual buyer's e-mail and mobile were erased (retention, PIPL). */
  contactsErasedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export const InvoiceRequestEntity = new EntitySchema<InvoiceRequestRow>({
  name: 'InvoiceRequest',
  tableName: 'invoice_requests',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    acceptanceNo: { name: 'acceptance_no', type: String, length: 16 },
    openid: { type: String, length: 64 },
    direction: { type: String, length: 8 },
    reversesId: { name: 'reverses_id', type: Number, nullable: true },
    replacesId: { name: 'replaces_id', type: Number, nullable: true },
    buyerKind: { name: 'buyer_kind', type: String, length: 16 },
    title: { type: String, length: 100 },
    buyerSealed: { name: 'buyer_sealed', type: 'text' },
    totalFen: { name: 'total_fen', type: Number },
    amountFen: { name: 'amount_fen', type: Number },
    taxFen: { name: 'tax_fen', type: Number },
    status: { type: String, length: 16 },
    failureReason: { name: 'failure_reason', type: String, length: 200, nullable: true },
    attemptNo: { name: 'attempt_no', type: Number },
    kind: { type: String, length: 8, nullable: true },
    invoiceCode: { name: 'invoice_code', type: String, length: 12, nullable: true },
    invoiceNumber: { name: 'invoice_number', type: String, length: 20, nullable: true },
    issuedAt: { name: 'issued_at', type: Date, nullable: true },
    redConfirmId: { name: 'red_confirm_id', type: String, length: 32, nullable: true },
    redState: { name: 'red_state', type: String, length: 16, nullable: true },
    sandbox: { type: Boolean },
    contactsErasedAt: { name: 'contacts_erased_at', type: Date, nullable: true },
    createdAt: { name: 'created_at', type: Date },
    updatedAt: { name: 'updated_at', type: Date },
  },
  uniques: [{ name: 'uq_invoice_requests_acceptance_no', columns: ['acceptanceNo'] }],
  indices: [{ name: 'idx_invoice_requests_openid', columns: ['openid', 'createdAt'] }, { name: 'idx_invoice_requests_status', columns: ['status', 'updatedAt'] }],
});

/**
 * One line per order. `orderKey` holds the order number while an invoice stands for the order (its request is
 * issuing, issued, failed awaiting a retry, or awaiting a red letter) and NULL once it is reversed: a unique index
 * on it means "an order is invoiced at most once at a time" on MySQL and SQLite alike (both allow many NULLs).
 */
export interface InvoiceLineRow {
  id: number;
  requestId: number;
  orderNo: string;
  orderKey: string | null;
  itemName: string;
  taxCode: string;
  taxRateBp: number;
  quantity: number;
  totalFen: number;
  amountFen: number;
  taxFen: number;
}

export const InvoiceLineEntity = new EntitySchema<InvoiceLineRow>({
  name: 'InvoiceLine',
  tableName: 'invoice_lines',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    requestId: { name: 'request_id', type: Number },
    orderNo: { name: 'order_no', type: String, length: 32 },
    orderKey: { name: 'order_key', type: String, length: 32, nullable: true },
    itemName: { name: 'item_name', type: String, length: 64 },
    taxCode: { name: 'tax_code', type: String, length: 19 },
    taxRateBp: { name: 'tax_rate_bp', type: Number },
    quantity: { type: Number },
    totalFen: { name: 'total_fen', type: Number },
    amountFen: { name: 'amount_fen', type: Number },
    taxFen: { name: 'tax_fen', type: Number },
  },
  uniques: [{ name: 'uq_invoice_lines_order_key', columns: ['orderKey'] }],
  indices: [{ name: 'idx_invoice_lines_request', columns: ['requestId'] }, { name: 'idx_invoice_lines_order', columns: ['orderNo'] }],
});

/** pending (queued, not yet accepted) → accepted (provider serial known) → issued | failed | refused | superseded. */
export type AttemptState = 'pending' | 'accepted' | 'issued' | 'failed' | 'refused' | 'superseded';

/** One submission to the provider; `attemptKey` is its order number there (numbers.ts attemptKey). */
export interface InvoiceAttemptRow {
  id: number;
  requestId: number;
  attemptNo: number;
  attemptKey: string;
  state: AttemptState;
  serial: string | null;
  reason: string | null;
  polls: number;
  /** Who started it: 'system' for the first, 'operator:<name>' for a retry. */
  startedBy: string;
  createdAt: Date;
  updatedAt: Date;
}

export const InvoiceAttemptEntity = new EntitySchema<InvoiceAttemptRow>({
  name: 'InvoiceAttempt',
  tableName: 'invoice_attempts',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    requestId: { name: 'request_id', type: Number },
    attemptNo: { name: 'attempt_no', type: Number },
    attemptKey: { name: 'attempt_key', type: String, length: 20 },
    state: { type: String, length: 16 },
    serial: { type: String, length: 64, nullable: true },
    reason: { type: String, length: 200, nullable: true },
    polls: { type: Number, default: 0 },
    startedBy: { name: 'started_by', type: String, length: 64 },
    createdAt: { name: 'created_at', type: Date },
    updatedAt: { name: 'updated_at', type: Date },
  },
  uniques: [{ name: 'uq_invoice_attempts_key', columns: ['attemptKey'] }, { name: 'uq_invoice_attempts_no', columns: ['requestId', 'attemptNo'] }],
  indices: [{ name: 'idx_invoice_attempts_state', columns: ['state', 'updatedAt'] }],
});

export type InvoiceFileKind = 'pdf' | 'ofd' | 'xml';

/** Our copy of a file the provider returned (their URLs expire). The invoice itself, not personal data: not sealed. */
export interface InvoiceFileRow {
  id: number;
  requestId: number;
  kind: InvoiceFileKind;
  contentType: string;
  bytes: Buffer;
  sizeBytes: number;
  sha256: string;
  createdAt: Date;
}

export const InvoiceFileEntity = new EntitySchema<InvoiceFileRow>({
  name: 'InvoiceFile',
  tableName: 'invoice_files',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    requestId: { name: 'request_id', type: Number },
    kind: { type: String, length: 8 },
    contentType: { name: 'content_type', type: String, length: 64 },
    bytes: { type: 'blob' },
    sizeBytes: { name: 'size_bytes', type: Number },
    sha256: { type: String, length: 64 },
    createdAt: { name: 'created_at', type: Date },
  },
  uniques: [{ name: 'uq_invoice_files_kind', columns: ['requestId', 'kind'] }],
});

/**
 * An invoice link /i/<token>. Only the token's SHA-256 is looked up (a database copy opens nothing); the token
 * itself is kept sealed so the owner's detail page can show it again.
 */
export interface InvoiceLinkRow {
  id: number;
  requestId: number;
  tokenHash: string;
  tokenSealed: string;
  revokedAt: Date | null;
  revokedBy: string | null;
  opens: number;
  createdAt: Date;
}

export const InvoiceLinkEntity = new EntitySchema<InvoiceLinkRow>({
  name: 'InvoiceLink',
  tableName: 'invoice_links',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    requestId: { name: 'request_id', type: Number },
    tokenHash: { name: 'token_hash', type: String, length: 64 },
    tokenSealed: { name: 'token_sealed', type: String, length: 255 },
    revokedAt: { name: 'revoked_at', type: Date, nullable: true },
    revokedBy: { name: 'revoked_by', type: String, length: 64, nullable: true },
    opens: { type: Number, default: 0 },
    createdAt: { name: 'created_at', type: Date },
  },
  uniques: [{ name: 'uq_invoice_links_token', columns: ['tokenHash'] }],
  indices: [{ name: 'idx_invoice_links_request', columns: ['requestId'] }],
});

/** A title the buyer used, sealed (an individual's is personal data); `titleIndex` = HMAC of kind + title. */
export interface InvoiceSavedTitleRow {
  id: number;
  openid: string;
  titleIndex: string;
  sealed: string;
  lastUsedAt: Date;
  createdAt: Date;
}

export const InvoiceSavedTitleEntity = new EntitySchema<InvoiceSavedTitleRow>({
  name: 'InvoiceSavedTitle',
  tableName: 'invoice_saved_titles',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    openid: { type: String, length: 64 },
    titleIndex: { name: 'title_index', type: String, length: 64 },
    sealed: { type: 'text' },
    lastUsedAt: { name: 'last_used_at', type: Date },
    createdAt: { name: 'created_at', type: Date },
  },
  uniques: [{ name: 'uq_invoice_saved_titles', columns: ['openid', 'titleIndex'] }],
});

/** owed → sent, or failed (given up after the queue's attempts; an operator resends). */
export type MailState = 'owed' | 'sent' | 'failed';

/** Each e-mail of an invoice: recorded in the transaction that makes it owed, sent by a job (like the notice outbox). */
export interface InvoiceMailRow {
  id: number;
  requestId: number;
  mailKey: string;
  toSealed: string;
  state: MailState;
  attempts: number;
  lastError: string | null;
  messageId: string | null;
  createdAt: Date;
  sentAt: Date | null;
}

export const InvoiceMailEntity = new EntitySchema<InvoiceMailRow>({
  name: 'InvoiceMail',
  tableName: 'invoice_mails',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    requestId: { name: 'request_id', type: Number },
    mailKey: { name: 'mail_key', type: String, length: 64 },
    toSealed: { name: 'to_sealed', type: String, length: 400 },
    state: { type: String, length: 8 },
    attempts: { type: Number, default: 0 },
    lastError: { name: 'last_error', type: String, length: 200, nullable: true },
    messageId: { name: 'message_id', type: String, length: 200, nullable: true },
    createdAt: { name: 'created_at', type: Date },
    sentAt: { name: 'sent_at', type: Date, nullable: true },
  },
  uniques: [{ name: 'uq_invoice_mails_key', columns: ['mailKey'] }],
  indices: [{ name: 'idx_invoice_mails_request', columns: ['requestId'] }, { name: 'idx_invoice_mails_state', columns: ['state', 'createdAt'] }],
});

export const invoiceEntities = [InvoiceRequestEntity, InvoiceLineEntity, InvoiceAttemptEntity, InvoiceFileEntity, InvoiceLinkEntity, InvoiceSavedTitleEntity, InvoiceMailEntity];
