import { EntitySchema } from 'typeorm';
import { type CertificateUsage, type KeyAlgorithm } from '../../lib/pki/types';

export type CertificateStatus = 'valid' | 'superseded' | 'revoked';

/**
 * A certificate we know: issued by our CA or imported on first sight when a holder presented it. The
 * fingerprint (SHA-256 of the DER) is its identity; serial + issuer are kept for the CA's own language.
 * SM2 certificates come in pairs: the encryption certificate points at its signing twin (pairCertificateId).
 */
export interface Certificate {
  id: number;
  fingerprintSha256: string;
  serialHex: string;
  issuerDn: string;
  subjectDn: string;
  organization: string | null;
  /** 统一社会信用代码 from the subject. */
  creditCode: string | null;
  commonName: string | null;
  algorithm: KeyAlgorithm;
  usage: CertificateUsage;
  /** 介质编号 of the U-KEY that holds the key (as the key agent reported it when the holder presented it). */
  mediaSerial: string | null;
  project: string;
  certType: string;
  notBefore: Date;
  notAfter: Date;
  status: CertificateStatus;
  revokedAt: Date | null;
  supersededById: number | null;
  pairCertificateId: number | null;
  pem: string;
  /** HMAC index (PiiVault.index, id-number) of the handler the CA's records register; see handler-authorisation. */
  registeredHandlerIndex?: string | null;
  sandbox: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export const CertificateEntity = new EntitySchema<Certificate>({
  name: 'Certificate',
  tableName: 'certificates',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    fingerprintSha256: { name: 'fingerprint_sha256', type: String, length: 64 },
    serialHex: { name: 'serial_hex', type: String, length: 64 },
    issuerDn: { name: 'issuer_dn', type: String, length: 512 },
    subjectDn: { name: 'subject_dn', type: String, length: 512 },
    organization: { type: String, length: 200, nullable: true },
    creditCode: { name: 'credit_code', type: String, length: 32, nullable: true },
    commonName: { name: 'common_name', type: String, length: 200, nullable: true },
    algorithm: { type: String, length: 16 },
    usage: { type: String, length: 8 },
    mediaSerial: { name: 'media_serial', type: String, length: 64, nullable: true },
    project: { type: String, length: 64 },
    certType: { name: 'cert_type', type: String, length: 32 },
    notBefore: { name: 'not_before', type: Date },
    notAfter: { name: 'not_after', type: Date },
    status: { type: String, length: 16 },
    revokedAt: { name: 'revoked_at', type: Date, nullable: true },
    supersededById: { name: 'superseded_by_id', type: Number, nullable: true },
    pairCertificateId: { name: 'pair_certificate_id', type: Number, nullable: true },
    pem: { type: 'text' },
    registeredHandlerIndex: { name: 'registered_handler_index', type: String, length: 64, nullable: true },
    sandbox: { type: Boolean },
    createdAt: { name: 'created_at', type: Date },
    updatedAt: { name: 'updated_at', type: Date },
  },
  uniques: [{ name: 'uq_certificates_fingerprint', columns: ['fingerprintSha256'] }],
});

/**
 * A presented certificate that chains to a trusted root but matches no project rule: it cannot be priced, so
 * an operator decides (adds a rule, then the holder tries again). One row per certificate, seen-count kept.
 */
export interface CertificateReview {
  id: number;
  fingerprintSha256: string;
  subjectDn: string;
  issuerDn: string;
  policyOids: string;
  pem: string;
  reason: string;
  status: 'pending' | 'resolved';
  seenCount: number;
  firstSeenAt: Date;
  lastSeenAt: Date;
  sandbox: boolean;
}

export const CertificateReviewEntity = new EntitySchema<CertificateReview>({
  name: 'CertificateReview',
  tableName: 'certificate_reviews',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    fingerprintSha256: { name: 'fingerprint_sha256', type: String, length: 64 },
    subjectDn: { name: 'subject_dn', type: String, length: 512 },
    issuerDn: { name: 'issuer_dn', type: String, length: 512 },
    policyOids: { name: 'policy_oids', type: String, length: 512 },
    pem: { type: 'text' },
    reason: { type: String, length: 200 },
    status: { type: String, length: 16 },
    seenCount: { name: 'seen_count', type: Number },
    firstSeenAt: { name: 'first_seen_at', type: Date },
    lastSeenAt: { name: 'last_seen_at', type: Date },
    sandbox: { type: Boolean },
  },
  uniques: [{ name: 'uq_certificate_reviews_fingerprint', columns: ['fingerprintSha256'] }],
});
