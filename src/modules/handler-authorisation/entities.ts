import { EntitySchema } from 'typeorm';

export type AuthorisationState = 'APPROVED' | 'PENDING' | 'REJECTED';
/**
 * first: the organisation's first verified handler, recorded by the system; registered: the handler the CA's records
 * name for one of its certificates, recorded when they act for it; review: asked for an operator's decision.
 */
export type AuthorisationMethod = 'first' | 'registered' | 'review';

/**
 * Whether one verified person may act for one organisation (经办人授权). Liveness proves who the person is, not
 * that they may act for the unit: the first verified handler of an organisation is recorded, later ones wait for
 * an operator (npm run handlers:reviews). The person is identified by the PII vault's HMAC index of the ID
 * number, never the number itself; the masked copies are what the operator sees.
 */
export interface HandlerAuthorisation {
  id: number;
  /** `cc:<统一社会信用代码>` when the certificate carries one, else `org:<normalised name>` (see orgKeyOf). */
  orgKey: string;
  /** As the certificate names the organisation (display only; the key decides). */
  organization: string | null;
  creditCode: string | null;
  idNumberIndex: string;
  nameMasked: string;
  idNumberMasked: string;
  /** Who asked (the WeChat user whose verified handler it was) and through which certificate. */
  openid: string;
  certificateId: number;
  state: AuthorisationState;
  method: AuthorisationMethod;
  /**
   * 1 on the organisation's 'first' row, NULL elsewhere: the unique (org_key, sandbox, first_slot) lets exactly one
   * concurrent "first handler" claim win (NULLs never collide, on MySQL and SQLite alike).
   */
  firstSlot: number | null;
  requestedAt: Date;
  decidedAt: Date | null;
  /** 'system:first-handler', 'system:registered-handler' or 'operator:<name>'. */
  decidedBy: string | null;
  reason: string | null;
  /** Electronic Signature Law art. 24: 5 years after the last certificate the person acted for expires. */
  purgeAfter: Date;
  sandbox: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export const HandlerAuthorisationEntity = new EntitySchema<HandlerAuthorisation>({
  name: 'HandlerAuthorisation',
  tableName: 'handler_authorisations',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    orgKey: { name: 'org_key', type: String, length: 255 },
    organization: { type: String, length: 200, nullable: true },
    creditCode: { name: 'credit_code', type: String, length: 32, nullable: true },
    idNumberIndex: { name: 'id_number_index', type: String, length: 64 },
    nameMasked: { name: 'name_masked', type: String, length: 64 },
    idNumberMasked: { name: 'id_number_masked', type: String, length: 18 },
    openid: { type: String, length: 64 },
    certificateId: { name: 'certificate_id', type: Number },
    state: { type: String, length: 16 },
    method: { type: String, length: 16 },
    firstSlot: { name: 'first_slot', type: Number, nullable: true },
    requestedAt: { name: 'requested_at', type: Date },
    decidedAt: { name: 'decided_at', type: Date, nullable: true },
    decidedBy: { name: 'decided_by', type: String, length: 64, nullable: true },
    reason: { type: String, length: 200, nullable: true },
    purgeAfter: { name: 'purge_after', type: Date },
    sandbox: { type: Boolean },
    createdAt: { name: 'created_at', type: Date },
    updatedAt: { name: 'updated_at', type: Date },
  },
  uniques: [
    { name: 'uq_handler_authorisations_person', columns: ['orgKey', 'sandbox', 'idNumberIndex'] },
    { name: 'uq_handler_authorisations_first', columns: ['orgKey', 'sandbox', 'firstSlot'] },
  ],
  indices: [{ name: 'ix_handler_authorisations_state', columns: ['state', 'requestedAt'] }, { name: 'ix_handler_authorisations_purge', columns: ['purgeAfter'] }],
});
