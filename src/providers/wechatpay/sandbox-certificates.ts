import { createPublicKey, createSign, generateKeyPair, generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { buildCertificate, type CertificateSigner } from '../../lib/pki/x509-builder';
import { subjectToName } from '../../lib/pki/names';
import { rfc3339Beijing } from './real';
import { aesGcmEncrypt } from './sign';

/**
 * The sandbox WeChat Pay's platform certificates: real X.509 certificates for its signing keys, issued by a
 * sandbox "Tenpay.com Root CA" (a key made per sandbox), served by GET /v3/certificates encrypted exactly as
 * WeChat Pay does. `rotate()` plays a rotation: a new certificate appears and signing switches to it; the old
 * one stays listed (and valid) until it expires.
 */
export interface SandboxPlatformCertificate {
  /** 40 upper-case hex digits, no leading zero (so every tool prints it the same way). */
  serialNo: string;
  privateKey: KeyObject;
  notBeforeMs: number;
  notAfterMs: number;
  /** Built asynchronously (signing needs only the key and the serial, known at once). */
  pem: Promise<string>;
}

const FIVE_YEARS_MS = 5 * 365 * 86400_000;
const DAY_MS = 86400_000;
const TENPAY_ROOT = subjectToName({ country: 'CN', organization: 'Tenpay.com', organizationalUnit: 'Tenpay.com CA Center', commonName: 'Tenpay.com Root CA' });

function newSerial(): string {
  const b = randomBytes(20);
  b[0] = 0x10 + (b[0] % 0x70); // top bit clear (no DER pad), first digit non-zero
  return b.toString('hex').toUpperCase();
}

export class SandboxPlatformCertificates {
  readonly all: SandboxPlatformCertificate[] = [];
  /** The certificate answers and notifies are signed with (in certificate mode). */
  signer: SandboxPlatformCertificate;
  private issuer?: Promise<CertificateSigner>;

  constructor(platformPrivateKey: KeyObject, private readonly nowMs: () => number) {
    this.signer = this.issue(platformPrivateKey, { notBeforeMs: nowMs() - DAY_MS, notAfterMs: nowMs() + FIVE_YEARS_MS });
  }

  /** A new certificate for `privateKey` (default: a fresh RSA-2048 key), listed from now on. */
  issue(privateKey?: KeyObject, validity: { notBeforeMs?: number; notAfterMs?: number } = {}): SandboxPlatformCertificate {
    const key = privateKey ?? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const notBeforeMs = validity.notBeforeMs ?? this.nowMs() - 60_000;
    const notAfterMs = validity.notAfterMs ?? this.nowMs() + FIVE_YEARS_MS;
    const serialNo = newSerial();
    const pem = this.build(key, serialNo, notBeforeMs, notAfterMs);
    pem.catch(() => undefined);
    const cert = { serialNo, privateKey: key, notBeforeMs, notAfterMs, pem };
    this.all.push(cert);
    return cert;
  }

  /** WeChat Pay's rotation: a new certificate appears and signs from now on; the old one is still listed until it expires. */
  rotate(validity: { notBeforeMs?: number; notAfterMs?: number } = {}): SandboxPlatformCertificate {
    this.signer = this.issue(undefined, validity);
    return this.signer;
  }

  /** The certificates GET /v3/certificates lists: those not yet expired. */
  listed(): SandboxPlatformCertificate[] {
    return this.all.filter((c) => c.notAfterMs > this.nowMs());
  }

  /** The GET /v3/certificates body, each PEM under AEAD_AES_256_GCM with the APIv3 key, associated_data "certificate". */
  async listJson(apiV3Key: string, tamper = false): Promise<Record<string, unknown>> {
    const data = [];
    for (const c of this.listed()) {
      const nonce = randomBytes(9).toString('base64url').slice(0, 12);
      let ciphertext = aesGcmEncrypt(apiV3Key, nonce, 'certificate', await c.pem);
      if (tamper) {
        const raw = Buffer.from(ciphertext, 'base64');
        raw[raw.length - 1] ^= 0x01; // the GCM tag's last byte
        ciphertext = raw.toString('base64');
      }
      data.push({
        serial_no: c.serialNo,
        effective_time: rfc3339Beijing(c.notBeforeMs),
        expire_time: rfc3339Beijing(c.notAfterMs),
        encrypt_certificate: { algorithm: 'AEAD_AES_256_GCM', nonce, associated_data: 'certificate', ciphertext },
      });
    }
    return { data };
  }

  private async build(key: KeyObject, serialNo: string, notBeforeMs: number, notAfterMs: number): Promise<string> {
    this.issuer ??= promisify(generateKeyPair)('rsa', { modulusLength: 2048 }).then(({ privateKey, publicKey }) => ({
      name: TENPAY_ROOT,
      spkiDer: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })),
      algorithm: 'RSA-2048' as const,
      sign: (tbs: Uint8Array) => new Uint8Array(createSign('sha256').update(tbs).sign(privateKey)),
    }));
    const der = await buildCertificate({
      serial: Buffer.from(serialNo, 'hex'),
      subject: { country: 'CN', province: '广东省', locality: '深圳市', organization: '财付通支付科技有限公司', organizationalUnit: '财付通支付科技有限公司', commonName: 'Tenpay.com sign' },
      subjectSpkiDer: new Uint8Array(createPublicKey(key).export({ type: 'spki', format: 'der' })),
      notBefore: new Date(notBeforeMs),
      notAfter: new Date(notAfterMs),
      issuer: await this.issuer,
      keyUsage: ['digitalSignature', 'nonRepudiation'],
    });
    const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
    return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
  }
}
