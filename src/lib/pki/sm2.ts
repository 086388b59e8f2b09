import { createHash } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { ECPrivateKey } from '@peculiar/asn1-ecc';
import { PrivateKeyInfo } from '@peculiar/asn1-pkcs8';
import { AlgorithmIdentifier, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { sm2 as smCrypto, sm3 as smCryptoSm3 } from 'sm-crypto-v2';
import { children, decodeOid, encodeOid, readTlv, toArrayBuffer, toHex } from './der';
import { OID } from './oids';
import { SM2_DEFAULT_USER_ID } from './types';

/**
 * SM2 (GB/T 32918) with SM3, as GB/T 35276 uses it in certificates and CSRs: the signed digest is
 * e = SM3(Z(A) || M), Z(A) computed with the signer ID (default 1234567812345678), signature DER SEQUENCE{r,s}.
 * The curve arithmetic is sm-crypto-v2's (noble); the digest is ours so that Z is computed once, from the
 * public key in hand, and hashed by OpenSSL's SM3 when the runtime has it.
 */
export const SM2_CURVE = {
  p: 0xfffffffeffffffffffffffffffffffffffffffff00000000ffffffffffffffffn,
  a: 0xfffffffeffffffffffffffffffffffffffffffff00000000fffffffffffffffcn,
  b: 0x28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93n,
  n: 0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123n,
  gx: 0x32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7n,
  gy: 0xbc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0n,
};

export interface Sm2KeyPair {
  /** d, 32 bytes big-endian. */
  privateKey: Uint8Array;
  /** Uncompressed point 04 || x || y (65 bytes). */
  publicKey: Uint8Array;
}

const nodeHasSm3 = (() => {
  try {
    createHash('sm3');
    return true;
  } catch {
    return false;
  }
})();

export function sm3(data: Uint8Array): Uint8Array {
  if (nodeHasSm3) return new Uint8Array(createHash('sm3').update(data).digest());
  return new Uint8Array(Buffer.from(smCryptoSm3(data), 'hex'));
}

// Copies out of Buffer's shared pool: private scalars should not sit in (or drag along) pooled memory.
const big32 = (v: bigint) => new Uint8Array(Buffer.from(v.toString(16).padStart(64, '0'), 'hex'));
const toBig = (b: Uint8Array) => BigInt(`0x${toHex(b) || '0'}`);

export function generateSm2KeyPair(): Sm2KeyPair {
  for (;;) {
    const kp = smCrypto.generateKeyPairHex();
    const d = BigInt(`0x${kp.privateKey}`);
    // SM2 needs d in [1, n-2] (the signature divides by 1+d); noble draws from [1, n-1].
    if (d >= SM2_CURVE.n - 1n) continue;
    return { privateKey: big32(d), publicKey: new Uint8Array(Buffer.from(kp.publicKey, 'hex')) };
  }
}

export function sm2PublicKeyFromPrivate(privateKey: Uint8Array): Uint8Array {
  return new Uint8Array(Buffer.from(smCrypto.getPublicKeyFromPrivateKey(toHex(privateKey)), 'hex'));
}

function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let r = 1n;
  for (base %= mod; exp > 0n; exp >>= 1n, base = (base * base) % mod) if (exp & 1n) r = (r * base) % mod;
  return r;
}

/** Accepts compressed (02/03) or uncompressed (04) points, returns the uncompressed form after an on-curve check. */
export function normalizeSm2Point(point: Uint8Array): Uint8Array {
  const { p, a, b } = SM2_CURVE;
  let x: bigint;
  let y: bigint;
  if (point.length === 65 && point[0] === 4) {
    x = toBig(point.subarray(1, 33));
    y = toBig(point.subarray(33));
  } else if (point.length === 33 && (point[0] === 2 || point[0] === 3)) {
    x = toBig(point.subarray(1));
    // p ≡ 3 (mod 4), so the square root is a single exponentiation.
    y = modPow((x * x * x + a * x + b) % p, (p + 1n) / 4n, p);
    if ((y & 1n) !== BigInt(point[0] & 1)) y = p - y;
  } else {
    throw new Error('SM2 public key: not an EC point');
  }
  if (x >= p || y >= p || (y * y - (x * x * x + a * x + b)) % p !== 0n) throw new Error('SM2 public key: point is not on the curve');
  return new Uint8Array(Buffer.concat([Buffer.from([4]), big32(x), big32(y)]));
}

/** SubjectPublicKeyInfo: id-ecPublicKey with the sm2p256v1 curve, as OpenSSL and GM/T 0015 write it. */
export function encodeSm2Spki(publicKey: Uint8Array): Uint8Array {
  const spki = new SubjectPublicKeyInfo({
    algorithm: new AlgorithmIdentifier({ algorithm: OID.ecPublicKey, parameters: toArrayBuffer(encodeOid(OID.sm2Curve)) }),
    subjectPublicKey: toArrayBuffer(normalizeSm2Point(publicKey)),
  });
  return new Uint8Array(AsnConvert.serialize(spki));
}

/** The uncompressed point from an SM2 SPKI; throws when the SPKI holds another kind of key. */
export function decodeSm2Spki(spkiDer: Uint8Array): Uint8Array {
  const spki = AsnConvert.parse(spkiDer, SubjectPublicKeyInfo);
  const alg = spki.algorithm.algorithm;
  const curve = decodeOid(spki.algorithm.parameters);
  const isSm2 = (alg === OID.ecPublicKey && curve === OID.sm2Curve) || alg === OID.sm2Curve;
  if (!isSm2) throw new Error(`not an SM2 public key (${alg}${curve ? ` ${curve}` : ''})`);
  return normalizeSm2Point(new Uint8Array(spki.subjectPublicKey));
}

/** PKCS#8 PrivateKeyInfo { id-ecPublicKey + sm2p256v1, ECPrivateKey { 1, d, [1] Q } }: what OpenSSL 3 writes. */
export function encodeSm2Pkcs8(key: Sm2KeyPair): Uint8Array {
  const ec = new ECPrivateKey({ version: 1, privateKey: new OctetString(toArrayBuffer(key.privateKey)), publicKey: toArrayBuffer(key.publicKey) });
  const info = new PrivateKeyInfo({
    privateKeyAlgorithm: new AlgorithmIdentifier({ algorithm: OID.ecPublicKey, parameters: toArrayBuffer(encodeOid(OID.sm2Curve)) }),
    privateKey: new OctetString(AsnConvert.serialize(ec)),
  });
  return new Uint8Array(AsnConvert.serialize(info));
}

export function decodeSm2Pkcs8(der: Uint8Array): Sm2KeyPair {
  const info = AsnConvert.parse(der, PrivateKeyInfo);
  const curve = decodeOid(info.privateKeyAlgorithm.parameters);
  if (info.privateKeyAlgorithm.algorithm !== OID.ecPublicKey || curve !== OID.sm2Curve) throw new Error('PKCS#8: not an SM2 private key');
  const ec = AsnConvert.parse(info.privateKey.buffer, ECPrivateKey);
  const d = toBig(new Uint8Array(ec.privateKey.buffer));
  if (d < 1n || d >= SM2_CURVE.n - 1n) throw new Error('PKCS#8: SM2 private key out of range');
  const privateKey = big32(d);
  const publicKey = ec.publicKey ? normalizeSm2Point(new Uint8Array(ec.publicKey)) : sm2PublicKeyFromPrivate(privateKey);
  return { privateKey, publicKey };
}

/** Z(A) = SM3(ENTL || ID || a || b || xG || yG || xA || yA). */
export function sm2Z(publicKey: Uint8Array, userId = SM2_DEFAULT_USER_ID): Uint8Array {
  const q = normalizeSm2Point(publicKey);
  const id = Buffer.from(userId, 'utf8');
  const entl = id.length * 8;
  const { a, b, gx, gy } = SM2_CURVE;
  return sm3(Buffer.concat([Buffer.from([(entl >> 8) & 0xff, entl & 0xff]), id, big32(a), big32(b), big32(gx), big32(gy), q.subarray(1)]));
}

/** e = SM3(Z || M); pass a precomputed Z to skip the point check and the first hash. */
export function sm2Digest(publicKey: Uint8Array, data: Uint8Array, z?: Uint8Array): Uint8Array {
  return sm3(Buffer.concat([z ?? sm2Z(publicKey), data]));
}

/** DER INTEGER of a non-negative value: minimal, with a 00 byte when the top bit is set (two's complement). */
export function derUnsignedInteger(v: bigint): Uint8Array {
  let hex = v.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let body = Buffer.from(hex, 'hex');
  if (body[0] & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  return new Uint8Array(Buffer.concat([Buffer.from([0x02, body.length]), body]));
}

export function encodeSm2Signature(r: bigint, s: bigint): Uint8Array {
  const body = Buffer.concat([derUnsignedInteger(r), derUnsignedInteger(s)]);
  return new Uint8Array(Buffer.concat([Buffer.from([0x30, body.length]), body]));
}

/** r and s from a DER signature, or undefined when it is not a well-formed one with both in [1, n-1]. */
export function decodeSm2Signature(signature: Uint8Array): { r: bigint; s: bigint } | undefined {
  try {
    const outer = readTlv(signature, 0);
    const parts = outer.tag === 0x30 && outer.end === signature.length ? children(signature, outer) : [];
    if (parts.length !== 2 || parts.some((t) => t.tag !== 0x02)) return undefined;
    const [r, s] = parts.map((t) => toBig(signature.subarray(t.contentStart, t.end)));
    if (r < 1n || r >= SM2_CURVE.n || s < 1n || s >= SM2_CURVE.n) return undefined;
    // One encoding per signature: refuse non-minimal integers (malleability).
    if (toHex(encodeSm2Signature(r, s)) !== toHex(signature)) return undefined;
    return { r, s };
  } catch {
    return undefined;
  }
}

/** Signs with the default signer ID; `z` may be cached by long-lived signers (the CA). */
export function sm2Sign(key: Sm2KeyPair, data: Uint8Array, z?: Uint8Array): Uint8Array {
  const e = sm2Digest(key.publicKey, data, z);
  const rs = smCrypto.doSignature(e, toHex(key.privateKey), { der: false, hash: false });
  return encodeSm2Signature(BigInt(`0x${rs.slice(0, 64)}`), BigInt(`0x${rs.slice(64)}`));
}

interface CurvePoint {
  multiplyAndAddUnsafe(q: CurvePoint, a: bigint, b: bigint): CurvePoint | undefined;
  toAffine(): { x: bigint; y: bigint };
}
interface CurvePointClass {
  BASE: CurvePoint;
  fromHex(hex: string): CurvePoint;
}
let pointClass: CurvePointClass | undefined;
/**
 * sm-crypto-v2's own verifier multiplies the public key in constant time, which verification (public data
 * only) does not need and which makes a CSR check a third slower. It exports no curve, but the points it
 * returns are @noble/curves ProjectivePoints, whose class (static BASE with its precomputed table, fromHex)
 * gives the unsafe-but-fast s·G + t·P. Taken once from a point made for the purpose.
 */
function curvePoints(): CurvePointClass {
  if (!pointClass) {
    const g = `04${SM2_CURVE.gx.toString(16).padStart(64, '0')}${SM2_CURVE.gy.toString(16).padStart(64, '0')}`;
    pointClass = (smCrypto.precomputePublicKey(g, 2) as unknown as { constructor: CurvePointClass }).constructor;
  }
  return pointClass;
}

/** False (never an exception) for a malformed signature or a key that is not on the curve. */
export function sm2Verify(publicKey: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    const rs = decodeSm2Signature(signature);
    if (!rs) return false;
    const q = normalizeSm2Point(publicKey);
    const e = toBig(sm2Digest(q, data));
    // GB/T 32918.2 §7.1: t = (r + s) mod n ≠ 0; (x1, y1) = s·G + t·P; valid iff (e + x1) mod n = r.
    const t = (rs.r + rs.s) % SM2_CURVE.n;
    if (t === 0n) return false;
    const Point = curvePoints();
    const sum = Point.BASE.multiplyAndAddUnsafe(Point.fromHex(toHex(q)), rs.s, t);
    if (!sum) return false;
    return (e + sum.toAffine().x) % SM2_CURVE.n === rs.r;
  } catch {
    return false;
  }
}
