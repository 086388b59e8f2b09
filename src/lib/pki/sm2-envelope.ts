import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { sm2 as smCrypto } from 'sm-crypto-v2';
import { children, concatBytes, decodeOid, encodeOid, encodeTlv, raw, readTlv, type Tlv, toHex } from './der';
import { OID } from './oids';
import { derUnsignedInteger, normalizeSm2Point, SM2_CURVE, type Sm2KeyPair, sm2PublicKeyFromPrivate } from './sm2';

/**
 * SM2 public-key encryption (GB/T 32918.4) and the SM2 enveloped key of GM/T 0009-2012 §7.4 (also GB/T 35276),
 * the form in which a key-management centre (KMC) delivers an encryption key pair to the holder of a signing key:
 *
 *   SM2EnvelopedKey ::= SEQUENCE {
 *     symAlgID               AlgorithmIdentifier,   -- sm4-ecb (1.2.156.10197.1.104.1), no parameters
 *     symEncryptedKey        SM2Cipher,             -- the SM4 key, SM2-encrypted to the signing public key
 *     sm2PublicKey           SM2PublicKey,          -- BIT STRING 04 || X || Y of the encryption key pair
 *     sm2EncryptedPrivateKey BIT STRING }           -- the 32-octet private key, SM4-ECB under the SM4 key
 *   SM2Cipher ::= SEQUENCE { XCoordinate INTEGER, YCoordinate INTEGER, HASH OCTET STRING (32), CipherText OCTET STRING }
 *
 * SM2Cipher is C1 || C3 || C2 in ASN.1 (GM/T 0009 §7.2). The curve arithmetic is sm-crypto-v2's; SM4 is Node's
 * OpenSSL (sm4-ecb). DER is written and read with der.ts: the structures are small and fixed.
 */
export interface Sm2Cipher {
  /** C1 = (x, y), each 32 octets big-endian. */
  x: Uint8Array;
  y: Uint8Array;
  /** C3 = SM3(x2 || M || y2), 32 octets. */
  hash: Uint8Array;
  /** C2, as long as the plaintext. */
  ciphertext: Uint8Array;
}

const pad32 = (b: Uint8Array): Uint8Array => {
  let i = 0;
  while (i < b.length - 32 && b[i] === 0) i++; // a DER sign octet
  const v = b.subarray(i);
  if (v.length > 32) throw new Error('SM2Cipher: coordinate longer than 32 octets');
  const out = new Uint8Array(32);
  out.set(v, 32 - v.length);
  return out;
};
const toBig = (b: Uint8Array) => BigInt(`0x${toHex(b) || '0'}`);
const seq = (...parts: Uint8Array[]) => encodeTlv(0x30, concatBytes(...parts));
const bitString = (b: Uint8Array) => encodeTlv(0x03, concatBytes(new Uint8Array([0]), b));

export function encodeSm2Cipher(c: Sm2Cipher): Uint8Array {
  if (c.hash.length !== 32) throw new Error('SM2Cipher: HASH must be 32 octets');
  return seq(derUnsignedInteger(toBig(c.x)), derUnsignedInteger(toBig(c.y)), encodeTlv(0x04, c.hash), encodeTlv(0x04, c.ciphertext));
}

function expectTags(buf: Uint8Array, parent: Tlv, tags: number[], what: string): Tlv[] {
  const parts = children(buf, parent);
  if (parts.length !== tags.length || parts.some((p, i) => p.tag !== tags[i])) throw new Error(`${what}: unexpected structure`);
  return parts;
}
const content = (buf: Uint8Array, t: Tlv) => buf.subarray(t.contentStart, t.end);
function bitStringContent(buf: Uint8Array, t: Tlv, what: string): Uint8Array {
  const c = content(buf, t);
  if (!c.length || c[0] !== 0) throw new Error(`${what}: BIT STRING with unused bits`);
  return c.subarray(1);
}

export function decodeSm2Cipher(der: Uint8Array, at?: Tlv): Sm2Cipher {
  const outer = at ?? readTlv(der, 0);
  if (outer.tag !== 0x30 || (!at && outer.end !== der.length)) throw new Error('SM2Cipher: not a single SEQUENCE');
  const [x, y, hash, ct] = expectTags(der, outer, [0x02, 0x02, 0x04, 0x04], 'SM2Cipher');
  const c = { x: pad32(content(der, x)), y: pad32(content(der, y)), hash: new Uint8Array(content(der, hash)), ciphertext: new Uint8Array(content(der, ct)) };
  if (c.hash.length !== 32) throw new Error('SM2Cipher: HASH must be 32 octets');
  return c;
}

/** Encrypts to an SM2 public key (04||X||Y or compressed); the result is SM2Cipher DER. */
export function sm2Encrypt(publicKey: Uint8Array, plaintext: Uint8Array): Uint8Array {
  if (!plaintext.length) throw new Error('SM2 encryption: empty plaintext');
  const q = normalizeSm2Point(publicKey);
  const hex = smCrypto.doEncrypt(plaintext, toHex(q), 1 /* C1C3C2 */);
  const b = Buffer.from(hex, 'hex'); // x(32) || y(32) || C3(32) || C2
  return encodeSm2Cipher({ x: b.subarray(0, 32), y: b.subarray(32, 64), hash: b.subarray(64, 96), ciphertext: b.subarray(96) });
}

/** Decrypts SM2Cipher DER; throws when the key is not the one it was encrypted to (C3 does not match). */
export function sm2Decrypt(privateKey: Uint8Array, cipherDer: Uint8Array): Uint8Array {
  const c = decodeSm2Cipher(cipherDer);
  const out = smCrypto.doDecrypt(toHex(concatBytes(c.x, c.y, c.hash, c.ciphertext)), toHex(privateKey), 1, { output: 'array' });
  // sm-crypto-v2 answers an empty array, not an exception, when C3 does not verify.
  if (!out.length || out.length !== c.ciphertext.length) throw new Error('SM2 decryption failed: wrong private key or damaged ciphertext');
  return new Uint8Array(out);
}

function sm4Ecb(encrypt: boolean, key: Uint8Array, data: Uint8Array): Uint8Array {
  if (key.length !== 16 || data.length % 16) throw new Error('SM4-ECB: 16-octet key and whole blocks expected');
  const c = encrypt ? createCipheriv('sm4-ecb', key, null) : createDecipheriv('sm4-ecb', key, null);
  c.setAutoPadding(false); // the private key is exactly two blocks: GM/T 0009 uses no padding
  return new Uint8Array(Buffer.concat([c.update(data), c.final()]));
}

export interface Sm2EnvelopedKey {
  symAlgOid: string;
  symEncryptedKey: Sm2Cipher;
  /** 04 || X || Y of the enveloped (encryption) key pair. */
  publicKey: Uint8Array;
  /** SM4-ECB of the 32-octet private key. */
  encryptedPrivateKey: Uint8Array;
}

/** Wraps `keyPair` (the encryption key pair) to `recipientPublicKey` (the holder's signing public key). DER. */
export function buildSm2EnvelopedKey(keyPair: Sm2KeyPair, recipientPublicKey: Uint8Array): Uint8Array {
  const symKey = new Uint8Array(randomBytes(16));
  try {
    const encryptedPrivateKey = sm4Ecb(true, symKey, keyPair.privateKey);
    return seq(
      seq(encodeOid(OID.sm4Ecb)),
      sm2Encrypt(recipientPublicKey, symKey),
      bitString(normalizeSm2Point(keyPair.publicKey)),
      bitString(encryptedPrivateKey),
    );
  } finally {
    symKey.fill(0);
  }
}

export function parseSm2EnvelopedKey(der: Uint8Array): Sm2EnvelopedKey {
  const outer = readTlv(der, 0);
  if (outer.tag !== 0x30 || outer.end !== der.length) throw new Error('SM2EnvelopedKey: not a single SEQUENCE');
  const [alg, cipher, pub, priv] = expectTags(der, outer, [0x30, 0x30, 0x03, 0x03], 'SM2EnvelopedKey');
  const symAlgOid = decodeOid(raw(der, children(der, alg)[0] ?? alg));
  if (symAlgOid !== OID.sm4Ecb) throw new Error(`SM2EnvelopedKey: symmetric algorithm ${symAlgOid ?? '?'} is not SM4-ECB`);
  const encryptedPrivateKey = new Uint8Array(bitStringContent(der, priv, 'SM2EnvelopedKey'));
  if (encryptedPrivateKey.length !== 32) throw new Error('SM2EnvelopedKey: the encrypted private key must be 32 octets');
  return { symAlgOid, symEncryptedKey: decodeSm2Cipher(der, cipher), publicKey: normalizeSm2Point(bitStringContent(der, pub, 'SM2EnvelopedKey')), encryptedPrivateKey };
}

/**
 * Opens an envelope with the recipient's (signing) private key: the encryption key pair. Throws for another
 * recipient key, or when the private key inside does not belong to the public key the envelope names.
 */
export function openSm2EnvelopedKey(der: Uint8Array, recipientPrivateKey: Uint8Array): Sm2KeyPair {
  const env = parseSm2EnvelopedKey(der);
  const symKey = sm2Decrypt(recipientPrivateKey, encodeSm2Cipher(env.symEncryptedKey));
  if (symKey.length !== 16) throw new Error('SM2EnvelopedKey: the symmetric key is not 16 octets');
  const privateKey = sm4Ecb(false, symKey, env.encryptedPrivateKey);
  symKey.fill(0);
  const d = toBig(privateKey);
  if (d < 1n || d >= SM2_CURVE.n - 1n || toHex(sm2PublicKeyFromPrivate(privateKey)) !== toHex(env.publicKey)) {
    throw new Error('SM2EnvelopedKey: the private key does not match the enveloped public key');
  }
  return { privateKey, publicKey: env.publicKey };
}
