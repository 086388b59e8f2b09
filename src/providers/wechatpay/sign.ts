import { createCipheriv, createDecipheriv, createPublicKey, createSign, createVerify, type KeyObject, X509Certificate } from 'node:crypto';
import { type Clock, nowSeconds, type Random, randomToken } from '../../lib/clock';

/**
 * The WeChat Pay APIv3 primitives, written against the official SDKs (see ../shared/research/wechatpay-v3.md):
 * SHA256withRSA (PKCS#1 v1.5) signatures over newline-terminated lines, and AEAD_AES_256_GCM with the APIv3 key.
 * Everything here is pure; keys come in as KeyObjects, time and randomness are injected.
 */

export const AUTH_SCHEMA = 'WECHATPAY2-SHA256-RSA2048';
/** WeChat Pay refuses more than 5 minutes of skew both ways (requests, responses, notifies). */
export const MAX_SKEW_SECONDS = 300;
/** Probes WeChat Pay sends to check that we really verify; they must fail (and do, being bad signatures). */
export const SIGNTEST_PREFIX = 'WECHATPAY/SIGNTEST/';

/** `a\nb\n…\n`: every signed message in APIv3 is its lines, each ended by \n (the last one too). */
export const signedMessage = (...lines: string[]) => lines.map((l) => `${l}\n`).join('');

export function rsaSign(privateKey: KeyObject, message: string): string {
  return createSign('RSA-SHA256').update(message, 'utf8').sign(privateKey, 'base64');
}

export function rsaVerify(publicKey: KeyObject, message: string, signatureB64: string): boolean {
  try {
    return createVerify('RSA-SHA256').update(message, 'utf8').verify(publicKey, signatureB64, 'base64');
  } catch {
    return false; // a malformed key or signature is simply not a valid signature
  }
}

export const nonceStr = (random: Random) => randomToken(random, 32);

export interface MerchantCredentials {
  mchId: string;
  /** The merchant API certificate's serial (upper-case hex). */
  serialNo: string;
  privateKey: KeyObject;
}

/** The Authorization header of an outgoing call. `pathWithQuery` is the full path of the URL called (base prefix included) plus its query. */
export function buildAuthorization(m: MerchantCredentials, method: string, pathWithQuery: string, body: string, clock: Clock, random: Random): string {
  const timestamp = String(nowSeconds(clock));
  const nonce = nonceStr(random);
  const signature = rsaSign(m.privateKey, signedMessage(method.toUpperCase(), pathWithQuery, timestamp, nonce, body));
  return `${AUTH_SCHEMA} mchid="${m.mchId}",nonce_str="${nonce}",signature="${signature}",timestamp="${timestamp}",serial_no="${m.serialNo}"`;
}

export interface ParsedAuthorization {
  mchid: string;
  nonce_str: string;
  signature: string;
  timestamp: string;
  serial_no: string;
}

/** Reads an Authorization header as WeChat Pay does; undefined when it is not one (the sandbox answers SIGN_ERROR). */
export function parseAuthorization(header: string | undefined): ParsedAuthorization | undefined {
  if (!header?.startsWith(`${AUTH_SCHEMA} `)) return undefined;
  const fields: Record<string, string> = {};
  for (const m of header.slice(AUTH_SCHEMA.length + 1).matchAll(/(\w+)="([^"]*)"/g)) fields[m[1]] = m[2];
  const keys = ['mchid', 'nonce_str', 'signature', 'timestamp', 'serial_no'] as const;
  return keys.every((k) => fields[k]) ? (fields as unknown as ParsedAuthorization) : undefined;
}

/** The parameters `WeixinJSBridge.invoke('getBrandWCPayRequest', …)` takes. */
export interface JsapiPayParams {
  appId: string;
  timeStamp: string;
  nonceStr: string;
  package: string;
  signType: 'RSA';
  paySign: string;
}

/** Signs appId\ntimeStamp\nnonceStr\npackage\n with the merchant key (JSAPI; APP would sign the bare prepay_id). */
export function signJsapiPayParams(privateKey: KeyObject, appId: string, prepayId: string, timeStamp: string, nonce: string): JsapiPayParams {
  const pkg = `prepay_id=${prepayId}`;
  return { appId, timeStamp, nonceStr: nonce, package: pkg, signType: 'RSA', paySign: rsaSign(privateKey, signedMessage(appId, timeStamp, nonce, pkg)) };
}

/** AEAD_AES_256_GCM as APIv3 uses it: 32-byte key, 12-character nonce, ciphertext = base64(ct ‖ 16-byte tag). */
export function aesGcmEncrypt(apiV3Key: string, nonce: string, associatedData: string, plaintext: string): string {
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(apiV3Key, 'utf8'), Buffer.from(nonce, 'utf8'));
  cipher.setAAD(Buffer.from(associatedData, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([ct, cipher.getAuthTag()]).toString('base64');
}

/**
 * Decrypts and AUTHENTICATES (final() throws on a wrong key, AAD or tag: the check wechatpay-node-v3 dropped).
 * Throws on any failure; the caller maps that to its own refusal.
 */
export function aesGcmDecrypt(apiV3Key: string, nonce: string, associatedData: string, ciphertextB64: string): string {
  const key = Buffer.from(apiV3Key, 'utf8');
  if (key.length !== 32) throw new Error('APIv3 key must be 32 bytes');
  const data = Buffer.from(ciphertextB64, 'base64');
  if (data.length < 17) throw new Error('ciphertext too short');
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(nonce, 'utf8'));
  decipher.setAAD(Buffer.from(associatedData, 'utf8'));
  decipher.setAuthTag(data.subarray(data.length - 16));
  return Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]).toString('utf8');
}

/** Serials compare upper-case and trimmed (WeChat Pay writes hex upper-case; some tools write it lower-case). */
export const normalizeSerial = (serial: string) => serial.trim().toUpperCase();
/** Same certificate serial, whether or not one side kept DER's leading 00 pad. */
export const sameSerial = (a: string, b: string) => normalizeSerial(a).replace(/^0+(?=.)/, '') === normalizeSerial(b).replace(/^0+(?=.)/, '');

export type VerifierSource = 'public-key' | 'file' | 'download';

export interface VerifierEntry {
  key: KeyObject;
  source: VerifierSource;
  /** Platform certificates only: the validity, checked at every lookup. */
  notBeforeMs?: number;
  notAfterMs?: number;
}

/**
 * The keys that verify WeChat Pay's signatures, keyed by what arrives in Wechatpay-Serial: the 微信支付公钥 ID
 * (PUB_KEY_ID_…) and/or platform certificate serials (from the file bundle or downloaded). One map for all, so a
 * switch between modes needs no downtime; the notify verifier and the response check read the same instance.
 * A certificate outside its validity is never returned, whatever else still holds it.
 */
export class WechatPayKeyRing {
  private readonly keys = new Map<string, VerifierEntry>();

  constructor(private readonly nowMs: () => number = Date.now) {}

  add(serial: string, key: KeyObject, entry: Omit<VerifierEntry, 'key'> = { source: 'public-key' }): this {
    this.keys.set(normalizeSerial(serial), { ...entry, key });
    return this;
  }

  /** Adds a platform certificate under its serial unless it has expired (or is not yet valid) at `nowMs`. */
  addCertificate(pem: string, nowMs: number, source: VerifierSource = 'file'): boolean {
    const cert = new X509Certificate(pem);
    const notBeforeMs = Date.parse(cert.validFrom);
    const notAfterMs = Date.parse(cert.validTo);
    if (notBeforeMs > nowMs || notAfterMs < nowMs) return false;
    this.add(cert.serialNumber, cert.publicKey, { source, notBeforeMs, notAfterMs });
    return true;
  }

  entry(serial: string | undefined): VerifierEntry | undefined {
    const e = serial ? this.keys.get(normalizeSerial(serial)) : undefined;
    if (!e) return undefined;
    const now = this.nowMs();
    if ((e.notBeforeMs !== undefined && e.notBeforeMs > now) || (e.notAfterMs !== undefined && e.notAfterMs < now)) return undefined;
    return e;
  }

  get(serial: string | undefined): KeyObject | undefined {
    return this.entry(serial)?.key;
  }

  has(serial: string): boolean {
    return this.keys.has(normalizeSerial(serial));
  }

  /** Drops certificates past their notAfter; returns the serials dropped. Keys without a validity stay. */
  prune(): string[] {
    const now = this.nowMs();
    const dropped = [...this.keys].filter(([, e]) => e.notAfterMs !== undefined && e.notAfterMs < now).map(([s]) => s);
    for (const s of dropped) this.keys.delete(s);
    return dropped;
  }

  /** Every serial held (including a certificate not yet valid). */
  get serials(): string[] {
    return [...this.keys.keys()];
  }
}

export const publicKeyOf = (privateKey: KeyObject) => createPublicKey(privateKey);
