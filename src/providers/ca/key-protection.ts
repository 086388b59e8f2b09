import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * The built-in CA's private keys at rest: AES-256-GCM under CA_KEY_ENCRYPTION_KEY, the authority's name as
 * additional data so a ciphertext copied onto another authority's row does not decrypt. Stored as
 * "v1." + base64(iv[12] || tag[16] || ciphertext): the version leaves room for a key rotation scheme.
 */
const VERSION = 'v1.';

export function parseKeyEncryptionKey(base64: string | undefined): Buffer {
  const key = base64 ? Buffer.from(base64, 'base64') : Buffer.alloc(0);
  if (key.length !== 32) throw new Error('CA_KEY_ENCRYPTION_KEY: must be 32 bytes, base64 (the built-in CA cannot protect its keys without it)');
  return key;
}

export function encryptPrivateKey(kek: Buffer, authorityName: string, plaintext: Uint8Array): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek, iv);
  cipher.setAAD(Buffer.from(authorityName, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return VERSION + Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64');
}

export function decryptPrivateKey(kek: Buffer, authorityName: string, stored: string): Uint8Array {
  if (!stored.startsWith(VERSION)) throw new Error(`sandbox CA ${authorityName}: unknown key format`);
  const blob = Buffer.from(stored.slice(VERSION.length), 'base64');
  if (blob.length < 12 + 16 + 1) throw new Error(`sandbox CA ${authorityName}: key ciphertext truncated`);
  const decipher = createDecipheriv('aes-256-gcm', kek, blob.subarray(0, 12));
  decipher.setAAD(Buffer.from(authorityName, 'utf8'));
  decipher.setAuthTag(blob.subarray(12, 28));
  try {
    return new Uint8Array(Buffer.concat([decipher.update(blob.subarray(28)), decipher.final()]));
  } catch (err) {
    // Almost always a changed CA_KEY_ENCRYPTION_KEY (or DATA_DIR sandbox secrets) against an existing database.
    throw new Error(`sandbox CA ${authorityName}: cannot decrypt its private key (was CA_KEY_ENCRYPTION_KEY changed?)`, { cause: err });
  }
}
