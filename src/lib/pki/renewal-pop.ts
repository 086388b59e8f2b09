import { createHash } from 'node:crypto';
import { pemToDer } from './certificate';
import { sm3 } from './sm2';
import { verifySignature } from './signature';
import { type KeyAlgorithm } from './types';

/**
 * Proof of possession for a renewal (docs/renewal.md): the OLD certificate's key signs the server's challenge
 * together with a hash of the new CSR, so possession of the old key authorises exactly this new key. The message
 * is these UTF-8 bytes: `CAM-RENEWAL-POP/1\n<challengeBase64>\n<hex(H(csrDer))>`, H = SM3 for SM2 keys and
 * SHA-256 otherwise, hex lower-case. The signature itself follows types.ts (SHA-256; SM2 with SM3 over Z(A)||M,
 * default ID 1234567812345678), as every signature the key agent makes.
 */
export const RENEWAL_POP_PREFIX = 'CAM-RENEWAL-POP/1';

/** H(csrDer) as the message carries it: SM3 for SM2, SHA-256 for RSA and ECDSA. */
export function csrDigestHex(csrDer: Uint8Array, algorithm: KeyAlgorithm): string {
  if (algorithm === 'SM2') return Buffer.from(sm3(csrDer)).toString('hex');
  return createHash('sha256').update(csrDer).digest('hex');
}

export function csrDerOf(csrPem: string): Uint8Array {
  return pemToDer(csrPem.replace(/NEW CERTIFICATE REQUEST/g, 'CERTIFICATE REQUEST'), 'CERTIFICATE REQUEST');
}

/** The exact bytes the old key signs. `algorithm` is the old (and new: same family) key's. */
export function renewalPopMessage(challengeBase64: string, csrDer: Uint8Array, algorithm: KeyAlgorithm): Uint8Array {
  return new Uint8Array(Buffer.from(`${RENEWAL_POP_PREFIX}\n${challengeBase64}\n${csrDigestHex(csrDer, algorithm)}`, 'utf8'));
}

/** True when `signature` is the old key's (its SubjectPublicKeyInfo) over the message; never throws. */
export function verifyRenewalPop(oldSpkiDer: Uint8Array, algorithm: KeyAlgorithm, challengeBase64: string, csrDer: Uint8Array, signature: Uint8Array): boolean {
  return verifySignature(oldSpkiDer, renewalPopMessage(challengeBase64, csrDer, algorithm), signature);
}
