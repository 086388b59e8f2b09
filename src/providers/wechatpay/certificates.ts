import { type KeyObject, X509Certificate } from 'node:crypto';
import { aesGcmDecrypt, sameSerial } from './sign';
import { WechatPayError } from './types';

/**
 * `GET /v3/certificates` answers, decrypted: {data: [{serial_no, effective_time, expire_time,
 * encrypt_certificate: {algorithm: 'AEAD_AES_256_GCM', nonce, associated_data: 'certificate', ciphertext}}]}.
 * The ciphertext is the certificate PEM under the APIv3 key: a certificate that decrypts and authenticates came
 * from someone holding our APIv3 key, i.e. WeChat Pay. That, not the (self-chosen) response signature, is the
 * root of trust of a first download (the official "auto update" downloaders verify with what they decrypt).
 */
export interface PlatformCertificate {
  /** Upper-case hex, as WeChat Pay sends it in Wechatpay-Serial. */
  serialNo: string;
  pem: string;
  notBeforeMs: number;
  notAfterMs: number;
  publicKey: KeyObject;
}

/** Real platform certificates are issued by "Tenpay.com Root CA" (C=CN, O=Tenpay.com, OU=Tenpay.com CA Center). */
const TENPAY_ISSUER = /(^|\n|, ?)CN=Tenpay\.com Root CA($|\n|,)/;

const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

function bad(detail: string): never {
  throw new WechatPayError('bad-response', `GET /v3/certificates: ${detail}`);
}

/**
 * Checks one decrypted PEM against what the list says about it: a parseable X.509 holding an RSA key, the same
 * serial as serial_no, issued by Tenpay.com Root CA. Returns it parsed; validity is the caller's call.
 */
export function parsePlatformCertificate(pem: string, serialNo: string): PlatformCertificate {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (err) {
    return bad(`certificate ${serialNo} is not an X.509 certificate (${(err as Error).message})`);
  }
  if (!sameSerial(cert.serialNumber, serialNo)) bad(`certificate serial ${cert.serialNumber} differs from serial_no ${serialNo}`);
  if (!TENPAY_ISSUER.test(cert.issuer)) bad(`certificate ${serialNo} is not issued by Tenpay.com Root CA (${cert.issuer.replace(/\n/g, ', ')})`);
  if (cert.publicKey.asymmetricKeyType !== 'rsa') bad(`certificate ${serialNo} holds a ${cert.publicKey.asymmetricKeyType} key, not RSA`);
  return {
    serialNo: serialNo.trim().toUpperCase(),
    pem: cert.toString(),
    notBeforeMs: Date.parse(cert.validFrom),
    notAfterMs: Date.parse(cert.validTo),
    publicKey: cert.publicKey,
  };
}

export const isValidAt = (c: Pick<PlatformCertificate, 'notBeforeMs' | 'notAfterMs'>, nowMs: number) => c.notBeforeMs <= nowMs && nowMs <= c.notAfterMs;

/**
 * Decrypts (tag checked) and checks every entry of a /v3/certificates answer. Any entry that does not decrypt or
 * check refuses the whole answer: it was tampered with or not meant for us, and nothing of it may be trusted.
 * Returns every entry, valid or not (the caller keeps the currently valid ones).
 */
export function decryptCertificateList(json: unknown, apiV3Key: string): PlatformCertificate[] {
  if (!isObj(json) || !Array.isArray(json.data)) bad('no data array');
  const out: PlatformCertificate[] = [];
  for (const item of json.data as unknown[]) {
    if (!isObj(item) || typeof item.serial_no !== 'string' || !/^[0-9A-Fa-f]{8,64}$/.test(item.serial_no) || !isObj(item.encrypt_certificate)) bad('malformed entry');
    const serialNo = (item as { serial_no: string }).serial_no;
    const enc = (item as { encrypt_certificate: Record<string, unknown> }).encrypt_certificate;
    if (enc.algorithm !== 'AEAD_AES_256_GCM' || typeof enc.nonce !== 'string' || typeof enc.ciphertext !== 'string') {
      bad(`certificate ${serialNo}: algorithm ${String(enc.algorithm)} or fields missing`);
    }
    let pem: string;
    try {
      pem = aesGcmDecrypt(apiV3Key, enc.nonce as string, typeof enc.associated_data === 'string' ? enc.associated_data : '', enc.ciphertext as string);
    } catch (err) {
      return bad(`certificate ${serialNo} does not decrypt and authenticate with the APIv3 key (${(err as Error).message})`);
    }
    out.push(parsePlatformCertificate(pem, serialNo));
  }
  return out;
}
