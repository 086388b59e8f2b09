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
