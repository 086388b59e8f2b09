import { EntitySchema } from 'typeorm';

/** renewal: moved to the renewed certificate when the old one was superseded. */
export type BindingSource = 'capc' | 'legacy' | 'renewal';

/**
 * A handler (openid) bound to a certificate. One row per (certificate, openid): unbinding keeps the row with
 * `active` false and `unboundAt`, so re-binding (or a re-follow restoring a legacy binding) never duplicates.
 */
export interface CertificateBinding {
  id: number;
  certificateId: number;
  openid: string;
  unionid: string | null;
  source: BindingSource;
  active: boolean;
  boundAt: Date;
  unboundAt: Date | null;
  sandbox: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export const CertificateBindingEntity = new EntitySchema<CertificateBinding>({
  name: 'CertificateBinding',
  tableName: 'certificate_bindings',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    certificateId: { name: 'certificate_id', type: Number },
    openid: { type: String, length: 64 },
    unionid: { type: String, length: 64, nullable: true },
    source: { type: String, length: 16 },
    active: { type: Boolean },
    boundAt: { name: 'bound_at', type: Date },
    unboundAt: { name: 'unbound_at', type: Date, nullable: true },
    sandbox: { type: Boolean },
    createdAt: { name: 'created_at', type: Date },
    updatedAt: { name: 'updated_at', type: Date },
  },
  uniques: [{ name: 'uq_bindings_certificate_openid', columns: ['certificateId', 'openid'] }],
});

/**
 * A binding code shown on the PC. Only HMACs are stored (of the code, and of the QR token that resolves to it),
 * so a database reader cannot bind. One row per certificate: a new code replaces the old one.
 */
export interface BindingCode {
  id: number;
  certificateId: number;
  codeHmac: string;
  qrTokenHmac: string;
  /** The QR token opens the phone page once; a second scan (or a leaked URL) finds it spent. */
  qrSpentAt: Date | null;
  expiresAt: Date;
  usedAt: Date | null;
  usedByOpenid: string | null;
  failedAttempts: number;
  sandbox: boolean;
  createdAt: Date;
}

export const BindingCodeEntity = new EntitySchema<BindingCode>({
  name: 'BindingCode',
  tableName: 'binding_codes',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    certificateId: { name: 'certificate_id', type: Number },
    codeHmac: { name: 'code_hmac', type: String, length: 64 },
    qrTokenHmac: { name: 'qr_token_hmac', type: String, length: 64 },
    qrSpentAt: { name: 'qr_spent_at', type: Date, nullable: true },
    expiresAt: { name: 'expires_at', type: Date },
    usedAt: { name: 'used_at', type: Date, nullable: true },
    usedByOpenid: { name: 'used_by_openid', type: String, length: 64, nullable: true },
    failedAttempts: { name: 'failed_attempts', type: Number },
    sandbox: { type: Boolean },
    createdAt: { name: 'created_at', type: Date },
  },
  uniques: [
    { name: 'uq_binding_codes_certificate', columns: ['certificateId'] },
    { name: 'uq_binding_codes_code', columns: ['codeHmac'] },
    { name: 'uq_binding_codes_qr', columns: ['qrTokenHmac'] },
  ],
});
