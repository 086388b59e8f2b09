import { createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { decodeOid, toBuffer } from './der';
import { OID } from './oids';
import { decodeSm2Spki, sm2Verify } from './sm2';
import { type KeyAlgorithm } from './types';

/** What a SubjectPublicKeyInfo holds, including keys outside KeyAlgorithm (CA keys such as RSA-4096 roots). */
export interface SpkiInfo {
  family: 'RSA' | 'EC' | 'SM2';
  /** 'RSA-2048' | 'ECDSA-P256' | 'SM2' when the key is one we issue or accept for users. */
  algorithm?: KeyAlgorithm;
  /** e.g. RSA-4096, ECDSA-P384. */
  description: string;
}

export function describeSpki(spkiDer: Uint8Array): SpkiInfo {
  const spki = AsnConvert.parse(spkiDer, SubjectPublicKeyInfo);
  const alg = spki.algorithm.algorithm;
  const param = decodeOid(spki.algorithm.parameters);
  if (alg === OID.rsaEncryption) {
    const bits = createPublicKey({ key: toBuffer(spkiDer), format: 'der', type: 'spki' }).asymmetricKeyDetails?.modulusLength ?? 0;
    return { family: 'RSA', algorithm: bits === 2048 ? 'RSA-2048' : undefined, description: `RSA-${bits}` };
  }
  if ((alg === OID.ecPublicKey && param === OID.sm2Curve) || alg === OID.sm2Curve) return { family: 'SM2', algorithm: 'SM2', description: 'SM2' };
  if (alg === OID.ecPublicKey && param === OID.prime256v1) return { family: 'EC', algorithm: 'ECDSA-P256', description: 'ECDSA-P256' };
  if (alg === OID.ecPublicKey && param === OID.secp384r1) return { family: 'EC', description: 'ECDSA-P384' };
  throw new Error(`unsupported public key: ${alg}${param ? ` (${param})` : ''}`);
}

/** The KeyAlgorithm of a user key; anything else (RSA other than 2048 bits, other curves) is refused. */
export function algorithmOfSpki(spkiDer: Uint8Array): KeyAlgorithm {
  const info = describeSpki(spkiDer);
  if (!info.algorithm) throw new Error(`unsupported public key: ${info.description} (accepted: RSA-2048, ECDSA-P256, SM2)`);
  return info.algorithm;
}

const nodeKeys = new WeakMap<Uint8Array, KeyObject>();
function nodeKey(spkiDer: Uint8Array): KeyObject {
  let key = nodeKeys.get(spkiDer);
  if (!key) nodeKeys.set(spkiDer, (key = createPublicKey({ key: toBuffer(spkiDer), format: 'der', type: 'spki' })));
  return key;
}

/**
 * Checks a signature in the project's convention (types.ts): RSA PKCS#1 v1.5, ECDSA DER, SM2 DER with the
 * default ID, all over SHA-256 / SM3. `hash` selects SHA-384/512 for CA certificates that use them.
 * Returns false, never throws, for a garbage signature or key.
 */
export function verifySignature(spkiDer: Uint8Array, data: Uint8Array, signature: Uint8Array, hash: 'sha256' | 'sha384' | 'sha512' = 'sha256'): boolean {
  try {
    const { family } = describeSpki(spkiDer);
    if (family === 'SM2') return sm2Verify(decodeSm2Spki(spkiDer), data, signature);
    const key = nodeKey(spkiDer);
    return nodeVerify(hash, data, family === 'EC' ? { key, dsaEncoding: 'der' } : key, signature);
  } catch {
    return false;
  }
}

/** The signatureAlgorithm an issuer with this key writes (RSA with NULL parameters, ECDSA and SM2 without). */
export function signatureAlgorithmFor(algorithm: KeyAlgorithm): AlgorithmIdentifier {
  if (algorithm === 'RSA-2048') return new AlgorithmIdentifier({ algorithm: OID.sha256WithRSAEncryption, parameters: null });
  return new AlgorithmIdentifier({ algorithm: algorithm === 'SM2' ? OID.sm2WithSm3 : OID.ecdsaWithSha256 });
}

const SIGNATURE_ALGORITHMS: Record<string, { family: SpkiInfo['family']; hash: 'sha256' | 'sha384' | 'sha512' }> = {
  [OID.sha256WithRSAEncryption]: { family: 'RSA', hash: 'sha256' },
  [OID.sha384WithRSAEncryption]: { family: 'RSA', hash: 'sha384' },
  [OID.sha512WithRSAEncryption]: { family: 'RSA', hash: 'sha512' },
  [OID.ecdsaWithSha256]: { family: 'EC', hash: 'sha256' },
  [OID.ecdsaWithSha384]: { family: 'EC', hash: 'sha384' },
  [OID.sm2WithSm3]: { family: 'SM2', hash: 'sha256' /* unused: SM2 always hashes with SM3 */ },
};

/**
 * Checks a signature made under a named signatureAlgorithm (certificates, CSRs): the algorithm must suit the
 * signer's key (no SHA-1, no RSA signature claimed by an EC key), then the signature itself. Never throws.
 */
export function verifySignedData(signerSpkiDer: Uint8Array, signatureAlgorithm: string, data: Uint8Array, signature: Uint8Array): boolean {
  const alg = SIGNATURE_ALGORITHMS[signatureAlgorithm];
  if (!alg) return false;
  try {
    if (describeSpki(signerSpkiDer).family !== alg.family) return false;
  } catch {
    return false;
  }
  return verifySignature(signerSpkiDer, data, signature, alg.hash);
}
