import { type CertificateSubject, type CertificateUsage } from '../../lib/pki/types';

/**
 * The CA as we need it, whoever runs it. The real implementation is an RA adapter (ra.ts); the sandbox is a
 * built-in CA that issues real X.509 certificates. Every call is idempotent: `issue` with the same requestId
 * returns the certificate issued the first time (a renewal retried after the key was pulled out must never
 * issue twice).
 */
export interface CertificateProfile {
  /** e.g. 梅州市住房公积金 */
  project: string;
  /** e.g. 机构证书, 个人证书 */
  certType: string;
  usage: CertificateUsage;
}

export interface IssueRequest {
  /** Idempotency key chosen by the caller (e.g. the renewal id). */
  requestId: string;
  /** PKCS#10, PEM; its signature is checked (SM2 with the default user ID). */
  csrPem: string;
  /** Subject to put in the certificate: the CA decides it from the order, not from the CSR. */
  subject: CertificateSubject;
  profile: CertificateProfile;
  validity: { notBefore: Date; notAfter: Date };
  /** 介质编号 of the token the key lives on (recorded by the CA; some RAs require it). */
  mediaSerial?: string;
}

export interface IssuedCertificate {
  serialHex: string;
  certificatePem: string;
  /** Issuing CA up to (not including) the root. */
  chainPem: string[];
  notBefore: Date;
  notAfter: Date;
  /**
   * SM2 pairs: the encryption certificate and its private key in a digital envelope (GM/T 0010 / GB/T 35275
   * SM2 enveloped key, base64), to be written by `cert.install`. The sandbox issues signing certificates only.
   */
  encryptionPair?: { certificatePem: string; envelopedKeyBase64: string };
}

export type RevocationReason = 'keyCompromise' | 'superseded' | 'cessationOfOperation' | 'unspecified';

export interface CertificateStatus {
  status: 'good' | 'revoked' | 'unknown';
  revokedAt?: Date;
  reason?: RevocationReason;
}

export interface CertificateAuthority {
  readonly mode: 'ra' | 'sandbox';
  issue(request: IssueRequest): Promise<IssuedCertificate>;
  revoke(serialHex: string, reason: RevocationReason): Promise<void>;
  status(serialHex: string): Promise<CertificateStatus>;
  /** Roots (PEM) that certificates of this CA chain to; intermediates in `intermediates`. */
  trustAnchors(): Promise<{ roots: string[]; intermediates: string[] }>;
}

/**
 * Why a CA call failed, the same for the sandbox and the RA:
 * - bad-csr: not a PKCS#10 request, or its signature does not verify (SM2: with the default ID);
 * - unsupported-key: a key other than RSA-2048, ECDSA-P256, SM2;
 * - invalid-request: missing or inconsistent fields (validity outside the issuing CA's, empty subject…);
 * - request-conflict: the requestId was used before for another key;
 * - unknown-serial: revoke of a certificate this CA did not issue;
 * - rejected: the RA refused for a business reason (its own code in `upstreamCode`);
 * - unauthorized: the RA refused our credentials or signature (configuration, never retried);
 * - unavailable: network error, timeout, 5xx, rate limit: safe to retry with the same requestId;
 * - protocol: the RA answered something we cannot read.
 */
export type CaErrorCode = 'bad-csr' | 'unsupported-key' | 'invalid-request' | 'request-conflict' | 'unknown-serial' | 'rejected' | 'unauthorized' | 'unavailable' | 'protocol';

export class CaError extends Error {
  constructor(readonly code: CaErrorCode, message: string, readonly upstreamCode?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CaError';
  }

  /** Retrying with the same requestId is safe and may succeed. */
  get retryable(): boolean {
    return this.code === 'unavailable';
  }
}
