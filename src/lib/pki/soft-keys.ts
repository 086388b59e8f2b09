import { createPrivateKey, generateKeyPairSync, sign as nodeSign } from 'node:crypto';
import { toBuffer } from './der';
import { decodeSm2Pkcs8, encodeSm2Pkcs8, encodeSm2Spki, generateSm2KeyPair, sm2Sign, sm2Z } from './sm2';
import { type KeyAlgorithm } from './types';

/**
 * Keys held in software: the sandbox CA's own keys, the sandbox token, tests. PKCS#8 DER for all three
 * algorithms (SM2 as an EC key on sm2p256v1, as OpenSSL 3 writes it), so they can be stored the same way.
 */
export interface SoftKeyPair {
  algorithm: KeyAlgorithm;
  privateKeyPkcs8Der: Uint8Array;
  spkiDer: Uint8Array;
}

export function generateSoftKeyPair(algorithm: KeyAlgorithm): SoftKeyPair {
  if (algorithm === 'SM2') {
    const kp = generateSm2KeyPair();
    return { algorithm, privateKeyPkcs8Der: encodeSm2Pkcs8(kp), spkiDer: encodeSm2Spki(kp.publicKey) };
  }
  const pair = algorithm === 'RSA-2048' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const publicKey = pair.publicKey.export({ type: 'spki', format: 'der' });
  const privateKey = pair.privateKey.export({ type: 'pkcs8', format: 'der' });
  return { algorithm, privateKeyPkcs8Der: new Uint8Array(privateKey), spkiDer: new Uint8Array(publicKey) };
}

/** Signs `data` in the convention of types.ts (RSA PKCS#1 v1.5 SHA-256, ECDSA-SHA256 DER, SM2-SM3 DER default ID). */
export function signWithSoftKey(algorithm: KeyAlgorithm, privateKeyPkcs8Der: Uint8Array, data: Uint8Array): Uint8Array {
  return createSoftSigner(algorithm, privateKeyPkcs8Der)(data);
}

/**
 * A signer with the key parsed once: the CA signs many certificates with one key, and parsing PKCS#8 (or
 * recomputing Z for SM2) on every signature would be wasted work.
 */
export function createSoftSigner(algorithm: KeyAlgorithm, privateKeyPkcs8Der: Uint8Array): (data: Uint8Array) => Uint8Array {
  if (algorithm === 'SM2') {
    const kp = decodeSm2Pkcs8(privateKeyPkcs8Der);
    const z = sm2Z(kp.publicKey);
    return (data) => sm2Sign(kp, data, z);
  }
  const key = createPrivateKey({ key: toBuffer(privateKeyPkcs8Der), format: 'der', type: 'pkcs8' });
  const expected = algorithm === 'RSA-2048' ? 'rsa' : 'ec';
  if (key.asymmetricKeyType !== expected) throw new Error(`PKCS#8 key is ${key.asymmetricKeyType}, not ${algorithm}`);
  if (algorithm === 'ECDSA-P256' && key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new Error('PKCS#8 key is not on P-256');
  if (algorithm === 'RSA-2048' && key.asymmetricKeyDetails?.modulusLength !== 2048) throw new Error('PKCS#8 key is not RSA-2048');
  return (data) => new Uint8Array(nodeSign('sha256', data, algorithm === 'ECDSA-P256' ? { key, dsaEncoding: 'der' } : key));
}
