import { EntitySchema } from 'typeorm';
import { type CertificateUsage, type KeyAlgorithm } from '../../lib/pki/types';
import { type RevocationReason } from './types';

/** One CA certificate of the built-in (sandbox) CA with its encrypted private key. Unique by name. */
export interface SandboxCaAuthority {
  id: number;
  /** e.g. 数安 Sandbox Root CA (RSA); also the AES-GCM additional data of the key. */
  name: string;
  role: 'root' | 'issuing';
  algorithm: KeyAlgorithm;
  /** The issuer's name; null for roots. */
  parentName: string | null;
  certificatePem: string;
  /** See key-protection.ts: never the plaintext key. */
  encryptedKey: string;
  fingerprintSha256: string;
  createdAt: Date;
}

/** A certificate issued by the built-in CA, kept for idempotency (requestId), status and revocation. */
export interface SandboxCaIssued {
  id: number;
  requestId: string;
  /** Canonical: lower-case hex without leading zero octets. */
  serialHex: string;
  issuerName: string;
  algorithm: KeyAlgorithm;
  usage: CertificateUsage;
  project: string;
  certType: string;
  subjectDn: string;
  /** SHA-256 of the CSR's SubjectPublicKeyInfo: a repeated requestId must be for the same key. */
  spkiSha256: string;
  mediaSerial: string | null;
  certificatePem: string;
  notBefore: Date;
  notAfter: Date;
  status: 'good' | 'revoked';
  revokedAt: Date | null;
  revocationReason: RevocationReason | null;
  /** Always true here; kept like followers.sandbox so production reports can leave sandbox rows out. */
  sandbox: boolean;
  createdAt: Date;
}

export const SandboxCaAuthorityEntity = new EntitySchema<SandboxCaAuthority>({
  name: 'SandboxCaAuthority',
  tableName: 'sandbox_ca_authorities',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    name: { type: String, length: 128 },
    role: { type: String, length: 16 },
    algorithm: { type: String, length: 16 },
    parentName: { name: 'parent_name', type: String, length: 128, nullable: true },
    certificatePem: { name: 'certificate_pem', type: 'text' },
    encryptedKey: { name: 'encrypted_key', type: 'text' },
    fingerprintSha256: { name: 'fingerprint_sha256', type: String, length: 64 },
    createdAt: { name: 'created_at', type: Date },
  },
  uniques: [{ name: 'uq_sandbox_ca_authorities_name', columns: ['name'] }],
});

export const SandboxCaIssuedEntity = new EntitySchema<SandboxCaIssued>({
  name: 'SandboxCaIssued',
  tableName: 'sandbox_ca_issued',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    requestId: { name: 'request_id', type: String, length: 128 },
    serialHex: { name: 'serial_hex', type: String, length: 64 },
    issuerName: { name: 'issuer_name', type: String, length: 128 },
    algorithm: { type: String, length: 16 },
    usage: { type: String, length: 16 },
    project: { type: String, length: 128 },
    certType: { name: 'cert_type', type: String, length: 64 },
    subjectDn: { name: 'subject_dn', type: 'text' },
    spkiSha256: { name: 'spki_sha256', type: String, length: 64 },
    mediaSerial: { name: 'media_serial', type: String, length: 64, nullable: true },
    certificatePem: { name: 'certificate_pem', type: 'text' },
    notBefore: { name: 'not_before', type: Date },
    notAfter: { name: 'not_after', type: Date },
    status: { type: String, length: 16 },
    revokedAt: { name: 'revoked_at', type: Date, nullable: true },
    revocationReason: { name: 'revocation_reason', type: String, length: 32, nullable: true },
    sandbox: { type: Boolean },
    createdAt: { name: 'created_at', type: Date },
  },
  uniques: [
    { name: 'uq_sandbox_ca_issued_request', columns: ['requestId'] },
    { name: 'uq_sandbox_ca_issued_serial', columns: ['serialHex'] },
  ],
});

/** The current CRL of one issuing CA of the built-in CA (sandbox-crl.ts). */
export interface SandboxCaCrl {
  id: number;
  issuerName: string;
  /** RFC 5280 CRL number: only grows; an update is conditional on the number read (optimistic). */
  crlNumber: number;
  /** Revoked certificates listed: fewer than the issuer's revoked rows means a revocation is not published yet. */
  entryCount: number;
  thisUpdate: Date;
  nextUpdate: Date;
  derBase64: string;
}

export const SandboxCaCrlEntity = new EntitySchema<SandboxCaCrl>({
  name: 'SandboxCaCrl',
  tableName: 'sandbox_ca_crls',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    issuerName: { name: 'issuer_name', type: String, length: 128 },
    crlNumber: { name: 'crl_number', type: Number },
    entryCount: { name: 'entry_count', type: Number },
    thisUpdate: { name: 'this_update', type: Date },
    nextUpdate: { name: 'next_update', type: Date },
    derBase64: { name: 'der_base64', type: 'text' },
  },
  uniques: [{ name: 'uq_sandbox_ca_crls_issuer', columns: ['issuerName'] }],
});

/** An SM2 encryption key pair generated and archived by the built-in CA's KMC (sandbox-kmc.ts). */
export interface SandboxKmcKey {
  id: number;
  /** The caller's id for the key (e.g. the renewal): unique, one pair per id. */
  keyRequestId: string;
  /** The encryption certificate (a row of sandbox_ca_issued, usage 'encrypt'). */
  encryptionSerialHex: string;
  /** PKCS#8, AES-256-GCM under CA_KEY_ENCRYPTION_KEY with `kmc:<keyRequestId>` as additional data. */
  encryptedPrivateKey: string;
  /** SHA-256 of the SPKI of the signing key the current envelope is wrapped to. */
  signingSpkiSha256: string;
  envelopedKeyBase64: string;
  createdAt: Date;
  updatedAt: Date;
}

export const SandboxKmcKeyEntity = new EntitySchema<SandboxKmcKey>({
  name: 'SandboxKmcKey',
  tableName: 'sandbox_kmc_keys',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    keyRequestId: { name: 'key_request_id', type: String, length: 128 },
    encryptionSerialHex: { name: 'encryption_serial_hex', type: String, length: 64 },
    encryptedPrivateKey: { name: 'encrypted_private_key', type: 'text' },
    signingSpkiSha256: { name: 'signing_spki_sha256', type: String, length: 64 },
    envelopedKeyBase64: { name: 'enveloped_key_base64', type: 'text' },
    createdAt: { name: 'created_at', type: Date },
    updatedAt: { name: 'updated_at', type: Date },
  },
  uniques: [{ name: 'uq_sandbox_kmc_keys_request', columns: ['keyRequestId'] }],
});
