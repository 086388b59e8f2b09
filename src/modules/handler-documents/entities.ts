import { EntitySchema } from 'typeorm';

export type DocumentSubmissionState = 'PENDING' | 'APPROVED' | 'REJECTED';
export type DocumentKind = 'id-front' | 'id-back' | 'authorisation';
export type DocumentContentType = 'image/jpeg' | 'image/png';

/**
 * The non-face alternative to handler liveness (PIPL arts. 28–30: whoever refuses or fails the face check gets
 * another way): name, ID number, organisation and three photos a person at the CA reviews. Name and ID number
 * are sealed like a liveness attempt's (PII vault, masked copies, HMAC index); the organisation is the
 * customer's own name, not personal data, and stays plain so the operator list can show it.
 */
export interface DocumentSubmission {
  id: number;
  openid: string;
  /**
   * The openid while PENDING, null after review: a unique column (NULLs do not collide on MySQL or SQLite), so
   * two parallel posts cannot leave two submissions in the queue.
   */
  pendingKey: string | null;
  nameSealed: string;
  nameMasked: string;
  idNumberSealed: string;
  idNumberIndex: string;
  idNumberMasked: string;
  organisation: string;
  state: DocumentSubmissionState;
  /** `operator:<name>` of whoever approved or rejected. */
  reviewer: string | null;
  /** Shown to the handler after a rejection (未通过：原因). */
  reason: string | null;
  /** When the person ticked the consent box on the documents page (kept as evidence of consent). */
  consentedAt: Date;
  createdAt: Date;
  reviewedAt: Date | null;
  /** Rows and their files are deleted after this (purgeExpired). */
  purgeAfter: Date;
  sandbox: boolean;
}

export const DocumentSubmissionEntity = new EntitySchema<DocumentSubmission>({
  name: 'HandlerDocumentSubmission',
  tableName: 'handler_document_submissions',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    openid: { type: String, length: 64 },
    pendingKey: { name: 'pending_key', type: String, length: 64, nullable: true },
    nameSealed: { name: 'name_sealed', type: String, length: 255 },
    nameMasked: { name: 'name_masked', type: String, length: 64 },
    idNumberSealed: { name: 'id_number_sealed', type: String, length: 255 },
    idNumberIndex: { name: 'id_number_index', type: String, length: 64 },
    idNumberMasked: { name: 'id_number_masked', type: String, length: 18 },
    organisation: { type: String, length: 128 },
    state: { type: String, length: 16 },
    reviewer: { type: String, length: 64, nullable: true },
    reason: { type: String, length: 200, nullable: true },
    consentedAt: { name: 'consented_at', type: Date },
    createdAt: { name: 'created_at', type: Date },
    reviewedAt: { name: 'reviewed_at', type: Date, nullable: true },
    purgeAfter: { name: 'purge_after', type: Date },
    sandbox: { type: Boolean },
  },
  uniques: [{ name: 'uq_handler_doc_sub_pending', columns: ['pendingKey'] }],
  indices: [
    { name: 'ix_handler_doc_sub_openid', columns: ['openid', 'createdAt'] },
    { name: 'ix_handler_doc_sub_state', columns: ['state', 'createdAt'] },
    { name: 'ix_handler_doc_sub_purge', columns: ['purgeAfter'] },
  ],
});

/**
 * One uploaded image, sealed with the PII vault (AES-256-GCM, PiiVault.encryptBytes). Kept in the database, not
 * in DATA_DIR: instances are stateless and may run on several hosts (the operator's command too), the row and
 * its files are written and purged in one transaction (no orphans after a crash), and backups stay consistent.
 * Loaded only by id: listing submissions never reads these blobs.
 */
export interface DocumentFile {
  id: number;
  submissionId: number;
  kind: DocumentKind;
  /** From the magic bytes, never from the browser's claim. */
  contentType: DocumentContentType;
  /** Plaintext size in bytes. */
  size: number;
  sealed: Buffer;
  createdAt: Date;
}

export const DocumentFileEntity = new EntitySchema<DocumentFile>({
  name: 'HandlerDocumentFile',
  tableName: 'handler_document_files',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    submissionId: { name: 'submission_id', type: Number },
    kind: { type: String, length: 16 },
    contentType: { name: 'content_type', type: String, length: 16 },
    size: { type: Number },
    sealed: { type: 'blob' },
    createdAt: { name: 'created_at', type: Date },
  },
  uniques: [{ name: 'uq_handler_doc_files_kind', columns: ['submissionId', 'kind'] }],
});

/** Who opened, approved or rejected a submission: the audit trail kept in the database, beside the vault's log line. */
export interface DocumentAccess {
  id: number;
  submissionId: number;
  actor: string;
  action: 'show' | 'approve' | 'reject';
  at: Date;
}

export const DocumentAccessEntity = new EntitySchema<DocumentAccess>({
  name: 'HandlerDocumentAccess',
  tableName: 'handler_document_accesses',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    submissionId: { name: 'submission_id', type: Number },
    actor: { type: String, length: 64 },
    action: { type: String, length: 16 },
    at: { type: Date },
  },
  indices: [{ name: 'ix_handler_doc_access_sub', columns: ['submissionId'] }],
});
