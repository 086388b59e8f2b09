import { EntitySchema } from 'typeorm';
import { type KeyAlgorithm } from '../../lib/pki/types';

/**
 * The renewal state machine (docs/renewal.md): ENTITLED → CHALLENGED → CSR_RECEIVED → ISSUED → INSTALLED.
 * One row per paid order line (unique), so one payment can never yield two renewals; every certificate issued for
 * it is a RenewalIssuance, and at most one of those is ever INSTALLED (unique installed_key).
 */
export const RENEWAL_STATES = ['ENTITLED', 'CHALLENGED', 'CSR_RECEIVED', 'ISSUED', 'INSTALLED'] as const;
export type RenewalState = (typeof RENEWAL_STATES)[number];

export interface Renewal {
  id: number;
  orderLineId: number;
  orderId: number;
  orderNo: string;
  /** The certificate being renewed (ours: certificates.id). */
  certificateId: number;
  openid: string;
  years: number;
  algorithm: KeyAlgorithm;
  /** SM2: a signing certificate plus an encryption certificate whose key the KMC delivers. */
  dual: boolean;
  state: RenewalState;
  /**
   * The lease: SHA-256 of the live challenge (or `csr:<random>` while a CSR is being issued) and when it ends. A
   * second tab or click finds it held and is told RENEWAL_RUNNING; an expired lease is free for anyone.
   */
  leaseToken: string | null;
  leaseUntil: Date | null;
  /** SHA-256 of the PC session (cam.pc) the live challenge was given to. */
  challengeSession: string | null;
  /** The issuance the page should install now (the latest one issued). */
  currentIssuanceId: number | null;
  /** The new certificate once INSTALLED (certificates.id). */
  newCertificateId: number | null;
  installedAt: Date | null;
  /** When the superseded certificate(s) were revoked after the grace period. */
  oldRevokedAt: Date | null;
  sandbox: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export const RenewalEntity = new EntitySchema<Renewal>({
  name: 'Renewal',
  tableName: 'renewals',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    orderLineId: { name: 'order_line_id', type: Number },
    orderId: { name: 'order_id', type: Number },
    orderNo: { name: 'order_no', type: String, length: 32 },
    certificateId: { name: 'certificate_id', type: Number },
    openid: { type: String, length: 64 },
    years: { type: Number },
    algorithm: { type: String, length: 16 },
    dual: { type: Boolean },
    state: { type: String, length: 16 },
    leaseToken: { name: 'lease_token', type: String, length: 80, nullable: true },
    leaseUntil: { name: 'lease_until', type: Date, nullable: true },
    challengeSession: { name: 'challenge_session', type: String, length: 64, nullable: true },
    currentIssuanceId: { name: 'current_issuance_id', type: Number, nullable: true },
    newCertificateId: { name: 'new_certificate_id', type: Number, nullable: true },
    installedAt: { name: 'installed_at', type: Date, nullable: true },
    oldRevokedAt: { name: 'old_revoked_at', type: Date, nullable: true },
    sandbox: { type: Boolean },
    createdAt: { name: 'created_at', type: Date },
    updatedAt: { name: 'updated_at', type: Date },
  },
  uniques: [{ name: 'uq_renewals_order_line', columns: ['orderLineId'] }],
  indices: [{ name: 'idx_renewals_certificate', columns: ['certificateId'] }, { name: 'idx_renewals_state', columns: ['state', 'installedAt'] }],
});

export type IssuanceState = 'ISSUED' | 'INSTALLED' | 'REPLACED';

/** One certificate (or SM2 pair) the CA issued for a renewal, for one CSR: idempotent by (renewal, CSR hash). */
export interface RenewalIssuance {
  id: number;
  renewalId: number;
  /** The CA's idempotency key: `renewal-<id>-<first 32 hex of the CSR hash>`. */
  requestId: string;
  csrSha256: string;
  /** The key agent's id of the new key pair (to install, or to remove when abandoned). */
  keyId: string | null;
  mediaSerial: string | null;
  state: IssuanceState;
  serialHex: string;
  certificatePem: string;
  /** JSON array of PEMs, issuing CA up to (not including) the root. */
  chainPem: string;
  notBefore: Date;
  notAfter: Date;
  encCertificatePem: string | null;
  encSerialHex: string | null;
  envelopedKeyBase64: string | null;
  /** The renewal id while INSTALLED, else NULL: a unique index makes "one installed certificate per renewal". */
  installedKey: string | null;
  revokedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export const RenewalIssuanceEntity = new EntitySchema<RenewalIssuance>({
  name: 'RenewalIssuance',
  tableName: 'renewal_issuances',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    renewalId: { name: 'renewal_id', type: Number },
    requestId: { name: 'request_id', type: String, length: 128 },
    csrSha256: { name: 'csr_sha256', type: String, length: 64 },
    keyId: { name: 'key_id', type: String, length: 128, nullable: true },
    mediaSerial: { name: 'media_serial', type: String, length: 64, nullable: true },
    state: { type: String, length: 16 },
    serialHex: { name: 'serial_hex', type: String, length: 64 },
    certificatePem: { name: 'certificate_pem', type: 'text' },
    chainPem: { name: 'chain_pem', type: 'text' },
    notBefore: { name: 'not_before', type: Date },
    notAfter: { name: 'not_after', type: Date },
    encCertificatePem: { name: 'enc_certificate_pem', type: 'text', nullable: true },
    encSerialHex: { name: 'enc_serial_hex', type: String, length: 64, nullable: true },
    envelopedKeyBase64: { name: 'enveloped_key_base64', type: 'text', nullable: true },
    installedKey: { name: 'installed_key', type: String, length: 32, nullable: true },
    revokedAt: { name: 'revoked_at', type: Date, nullable: true },
    createdAt: { name: 'created_at', type: Date },
    updatedAt: { name: 'updated_at', type: Date },
  },
  uniques: [
    { name: 'uq_renewal_issuances_request', columns: ['requestId'] },
    { name: 'uq_renewal_issuances_csr', columns: ['renewalId', 'csrSha256'] },
    { name: 'uq_renewal_issuances_installed', columns: ['installedKey'] },
  ],
});

/** One entry of the append-only renewal audit chain (audit.ts): each holds the previous entry's hash. */
export interface RenewalAudit {
  id: number;
  /** 1, 2, 3…: unique, so two appenders racing for the same place cannot both get it. */
  seq: number;
  renewalId: number | null;
  step: string;
  /** JSON, canonical (keys sorted) as hashed. */
  detail: string;
  at: Date;
  prevHash: string;
  hash: string;
}

export const RenewalAuditEntity = new EntitySchema<RenewalAudit>({
  name: 'RenewalAudit',
  tableName: 'renewal_audit',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    seq: { type: Number },
    renewalId: { name: 'renewal_id', type: Number, nullable: true },
    step: { type: String, length: 32 },
    detail: { type: 'text' },
    at: { type: Date },
    prevHash: { name: 'prev_hash', type: String, length: 64 },
    hash: { type: String, length: 64 },
  },
  uniques: [{ name: 'uq_renewal_audit_seq', columns: ['seq'] }],
  indices: [{ name: 'idx_renewal_audit_renewal', columns: ['renewalId'] }],
});
