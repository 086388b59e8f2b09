import { EntitySchema } from 'typeorm';

export type HandlerAttemptState = 'STARTED' | 'PASSED' | 'FAILED';

/**
 * One liveness check a WeChat user started (经办人活体鉴别认证). Name and ID number are personal data: they are
 * sealed with the PII vault (keys outside the database) and kept beside a masked copy for display and an HMAC
 * index for lookups. No face image is ever stored: the provider is asked for a text verdict only.
 */
export interface HandlerAttempt {
  id: number;
  /** Our random reference, sent to the provider as Extra and in the callback URL (`?ref=`); no PII. */
  reference: string;
  openid: string;
  nameSealed: string;
  nameMasked: string;
  idNumberSealed: string;
  /** HMAC of the normalized ID number (PiiVault.index). */
  idNumberIndex: string;
  idNumberMasked: string;
  /** Null until the provider gave one (a start that failed upstream keeps none). */
  bizToken: string | null;
  state: HandlerAttemptState;
  /** A LivenessRefusal, or START_FAILED when the provider could not be reached. */
  refusal: string | null;
  /** When the person pressed 同意并继续 on the consent screen (PIPL art. 29: separate consent, kept as evidence). */
  consentedAt: Date;
  createdAt: Date;
  finishedAt: Date | null;
  /** After this the row is deleted by purgeExpired. */
  purgeAfter: Date;
  sandbox: boolean;
}

export const HandlerAttemptEntity = new EntitySchema<HandlerAttempt>({
  name: 'HandlerAttempt',
  tableName: 'handler_attempts',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    reference: { type: String, length: 48 },
    openid: { type: String, length: 64 },
    nameSealed: { name: 'name_sealed', type: String, length: 255 },
    nameMasked: { name: 'name_masked', type: String, length: 64 },
    idNumberSealed: { name: 'id_number_sealed', type: String, length: 255 },
    idNumberIndex: { name: 'id_number_index', type: String, length: 64 },
    idNumberMasked: { name: 'id_number_masked', type: String, length: 18 },
    bizToken: { name: 'biz_token', type: String, length: 64, nullable: true },
    state: { type: String, length: 16 },
    refusal: { type: String, length: 32, nullable: true },
    consentedAt: { name: 'consented_at', type: Date },
    createdAt: { name: 'created_at', type: Date },
    finishedAt: { name: 'finished_at', type: Date, nullable: true },
    purgeAfter: { name: 'purge_after', type: Date },
    sandbox: { type: Boolean },
  },
  uniques: [{ name: 'uq_handler_attempts_reference', columns: ['reference'] }],
  indices: [{ name: 'ix_handler_attempts_openid', columns: ['openid', 'createdAt'] }, { name: 'ix_handler_attempts_purge', columns: ['purgeAfter'] }],
});

/** The verified handler of one openid: what business pages check before the first order. */
export interface VerifiedHandler {
  id: number;
  openid: string;
  nameSealed: string;
  nameMasked: string;
  idNumberSealed: string;
  idNumberIndex: string;
  idNumberMasked: string;
  method: 'liveness' | 'documents';
  /** The attempt that passed (method liveness), or the approved document submission (method documents). */
  attemptId: number;
  verifiedAt: Date;
  /**
   * Electronic Signature Law art. 24 / the CA rules: records kept 5 years after the certificate expires. Until
   * orders link handlers to certificates it is verifiedAt + 5 years; the renewal issue extends it per certificate.
   */
  purgeAfter: Date;
  sandbox: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export const VerifiedHandlerEntity = new EntitySchema<VerifiedHandler>({
  name: 'VerifiedHandler',
  tableName: 'verified_handlers',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    openid: { type: String, length: 64 },
    nameSealed: { name: 'name_sealed', type: String, length: 255 },
    nameMasked: { name: 'name_masked', type: String, length: 64 },
    idNumberSealed: { name: 'id_number_sealed', type: String, length: 255 },
    idNumberIndex: { name: 'id_number_index', type: String, length: 64 },
    idNumberMasked: { name: 'id_number_masked', type: String, length: 18 },
    method: { type: String, length: 16 },
    attemptId: { name: 'attempt_id', type: Number },
    verifiedAt: { name: 'verified_at', type: Date },
    purgeAfter: { name: 'purge_after', type: Date },
    sandbox: { type: Boolean },
    createdAt: { name: 'created_at', type: Date },
    updatedAt: { name: 'updated_at', type: Date },
  },
  uniques: [{ name: 'uq_verified_handlers_openid', columns: ['openid'] }],
  indices: [{ name: 'ix_verified_handlers_id_index', columns: ['idNumberIndex'] }, { name: 'ix_verified_handlers_purge', columns: ['purgeAfter'] }],
});
