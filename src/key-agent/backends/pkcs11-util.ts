import { createPublicKey } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';
import { agentErrors, KeyAgentError } from '../errors';

/**
 * The PKCS#11 pieces that are plain data: error codes → protocol errors, token public keys → SPKI, the
 * ECDSA signature format, and the attributes a certificate object carries. Kept apart from the session
 * handling in pkcs11.ts so they can be read (and reasoned about) without a token.
 */

/** CKF_USER_PIN_* token flags (PKCS#11 v2.40 §5.5). */
export const TOKEN_FLAGS = { USER_PIN_COUNT_LOW: 0x10000, USER_PIN_FINAL_TRY: 0x20000, USER_PIN_LOCKED: 0x40000, TOKEN_INITIALIZED: 0x400 } as const;

/** Return values that mean the token is gone (pulled out, or its slot vanished with it). */
const REMOVED = new Set(['CKR_DEVICE_REMOVED', 'CKR_TOKEN_NOT_PRESENT', 'CKR_SLOT_ID_INVALID']);
/**
 * Return values that follow a removal when the session was opened before it, or that a token gives when it
 * loses power mid-operation; they can also be a real fault, so they mean DEVICE_REMOVED only if the token
 * is no longer in its slot.
 */
const SESSION_GONE = new Set(['CKR_SESSION_HANDLE_INVALID', 'CKR_SESSION_CLOSED', 'CKR_USER_NOT_LOGGED_IN', 'CKR_DEVICE_ERROR', 'CKR_FUNCTION_FAILED']);

/** The CKR_* name of a graphene/pkcs11js error, if it is one. */
export function ckrOf(err: unknown): string | undefined {
  const message = (err as { message?: unknown } | null)?.message;
  if (typeof message !== 'string') return undefined;
  return /^(CKR_[A-Z0-9_]+)/.exec(message)?.[1];
}

export interface Pkcs11ErrorContext {
  mediaSerial: string;
  /** What was being done, for the log detail. */
  operation: string;
  /** Token flags read after the failure (undefined when the token cannot be asked any more). */
  tokenFlags?: () => number | undefined;
  /** Whether the token is still in its slot (asked only for the ambiguous session errors). */
  stillPresent?: () => boolean;
}

/** Maps whatever a PKCS#11 call threw to a protocol error; a KeyAgentError passes through untouched. */
export function toAgentError(err: unknown, ctx: Pkcs11ErrorContext): KeyAgentError {
  if (err instanceof KeyAgentError) return err;
  const ckr = ckrOf(err);
  const detail = `${ctx.operation} on token ${ctx.mediaSerial}: ${ckr ?? (err as Error)?.message ?? String(err)}`;
  switch (true) {
    case ckr === 'CKR_PIN_INCORRECT': {
      const flags = ctx.tokenFlags?.();
      if (flags !== undefined && flags & TOKEN_FLAGS.USER_PIN_LOCKED) return agentErrors.pinLocked(detail);
      // Tokens only say "one try left" (CKF_USER_PIN_FINAL_TRY); any other count is unknown to PKCS#11.
      return agentErrors.pinIncorrect(flags !== undefined && flags & TOKEN_FLAGS.USER_PIN_FINAL_TRY ? 1 : null, detail);
    }
    case ckr === 'CKR_PIN_LOCKED':
      return agentErrors.pinLocked(detail);
    case ckr === 'CKR_PIN_LEN_RANGE':
      return new KeyAgentError('INVALID_PARAMS', '证书密码长度不符合 U-KEY 要求', undefined, detail);
    case ckr !== undefined && REMOVED.has(ckr):
      return agentErrors.deviceRemoved(ctx.mediaSerial, detail);
    case ckr !== undefined && SESSION_GONE.has(ckr) && ctx.stillPresent?.() === false:
      return agentErrors.deviceRemoved(ctx.mediaSerial, detail);
    case ckr === 'CKR_MECHANISM_INVALID' || ckr === 'CKR_KEY_TYPE_INCONSISTENT' || ckr === 'CKR_DOMAIN_PARAMS_INVALID' || ckr === 'CKR_CURVE_NOT_SUPPORTED':
      return new KeyAgentError('UNSUPPORTED_ALGORITHM', '该 U-KEY 不支持此算法', undefined, detail);
    default:
      return agentErrors.internal(detail, err);
  }
}

/** DER OID of prime256v1 / secp256r1, as CKA_EC_PARAMS wants it. */
export const P256_PARAMS = Buffer.from('06082a8648ce3d030107', 'hex');

/** SPKI (DER) of an RSA public key object's modulus and exponent. */
export function rsaSpki(modulus: Buffer, publicExponent: Buffer): Uint8Array {
  const key = createPublicKey({ key: { kty: 'RSA', n: b64url(modulus), e: b64url(publicExponent) }, format: 'jwk' });
  return new Uint8Array(key.export({ type: 'spki', format: 'der' }));
}

/**
 * SPKI (DER) of a P-256 public key object. CKA_EC_POINT is an OCTET STRING wrapping 04||X||Y by the
 * standard, but some tokens store the bare point: both are accepted.
 */
export function p256Spki(ecPoint: Buffer): Uint8Array {
  const point = ecPoint.length === 67 && ecPoint[0] === 0x04 && ecPoint[1] === 65 ? ecPoint.subarray(2) : ecPoint;
  if (point.length !== 65 || point[0] !== 0x04) throw agentErrors.internal(`unexpected CKA_EC_POINT of ${ecPoint.length} bytes`);
  const key = createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: b64url(point.subarray(1, 33)), y: b64url(point.subarray(33)) },
    format: 'jwk',
  });
  return new Uint8Array(key.export({ type: 'spki', format: 'der' }));
}

const b64url = (b: Buffer) => b.toString('base64url');

/** CKM_ECDSA gives r||s (each as long as the order); X.509 and our convention carry SEQUENCE { r, s }. */
export function ecdsaRawToDer(raw: Uint8Array): Uint8Array {
  if (raw.length % 2 !== 0 || raw.length === 0) throw agentErrors.internal(`ECDSA signature of odd length ${raw.length}`);
  const half = raw.length / 2;
  const body = Buffer.concat([derInteger(raw.subarray(0, half)), derInteger(raw.subarray(half))]);
  return new Uint8Array(Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]));
}

function derInteger(unsigned: Uint8Array): Buffer {
  let start = 0;
  while (start < unsigned.length - 1 && unsigned[start] === 0) start += 1;
  const trimmed = Buffer.from(unsigned.subarray(start));
  // A set high bit would read as negative: DER needs a leading zero then.
  const value = trimmed[0] & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
  return Buffer.concat([Buffer.from([0x02]), derLength(value.length), value]);
}

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n >>= 8) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** CKA_SUBJECT, CKA_ISSUER and CKA_SERIAL_NUMBER of a certificate object: DER pieces of the certificate. */
export function certificateAttributes(der: Uint8Array): { subject: Buffer; issuer: Buffer; serial: Buffer } {
  const cert = AsnConvert.parse(der, Certificate);
  const tbs = cert.tbsCertificate;
  const serialBytes = Buffer.from(tbs.serialNumber);
  return {
    subject: Buffer.from(AsnConvert.serialize(tbs.subject)),
    issuer: Buffer.from(AsnConvert.serialize(tbs.issuer)),
    // CKA_SERIAL_NUMBER is the DER encoding of the INTEGER, tag and length included.
    serial: Buffer.concat([Buffer.from([0x02]), derLength(serialBytes.length), serialBytes]),
  };
}
