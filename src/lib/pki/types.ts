/**
 * The shared vocabulary of certificates and keys. Used by the server (verification, the built-in CA) and by
 * the key agent (keys on tokens, CSRs). One signature convention everywhere:
 * - RSA-2048: RSASSA-PKCS1-v1_5 with SHA-256 (signature bytes as PKCS#1 gives them);
 * - ECDSA-P256: ECDSA with SHA-256, signature DER-encoded (SEQUENCE { r, s }), as X.509 carries it;
 * - SM2: SM2 with SM3 over Z(A) || M, Z computed with the user ID 1234567812345678 (GB/T 35276), DER-encoded.
 */
export type KeyAlgorithm = 'RSA-2048' | 'ECDSA-P256' | 'SM2';
export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = ['RSA-2048', 'ECDSA-P256', 'SM2'];

/** The default SM2 signer ID of GB/T 35276; OpenSSL 3 must be given it (`-vfyopt distid:…`). */
export const SM2_DEFAULT_USER_ID = '1234567812345678';

/** What a certificate is for: real SM2 certificates come as a signing + encryption pair. */
export type CertificateUsage = 'sign' | 'encrypt';

/** Subject fields we rely on. 统一社会信用代码 travels in the subject (OID 2.5.4.97 organizationIdentifier, or serialNumber). */
export interface CertificateSubject {
  commonName?: string;
  organization?: string;
  organizationalUnit?: string;
  /** 统一社会信用代码 (18 characters) for 机构证书; the ID number is never kept in full for 个人证书. */
  creditCode?: string;
  locality?: string;
  province?: string;
  country?: string;
}

export interface ParsedCertificate {
  /** Lower-case hex, no leading zeros stripped beyond DER's. */
  serialHex: string;
  subjectDn: string;
  issuerDn: string;
  subject: CertificateSubject;
  /**
   * The key's algorithm. CA certificates may hold keys outside KeyAlgorithm (an RSA-4096 root): then this is
   * the family's closest member and `keyDescription` names the real key; user certificates never do.
   */
  algorithm: KeyAlgorithm;
  /** e.g. 'RSA-2048', 'RSA-4096', 'ECDSA-P384', 'SM2' (added by parseCertificate). */
  keyDescription?: string;
  usage: CertificateUsage;
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 of the DER, lower-case hex: the certificate's identity in our records. */
  fingerprintSha256: string;
  policyOids: string[];
  isCa: boolean;
  der: Uint8Array;
  pem: string;
  /** SubjectPublicKeyInfo, DER. */
  spkiDer: Uint8Array;
}
