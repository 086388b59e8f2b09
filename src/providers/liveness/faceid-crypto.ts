import { constants, createCipheriv, createDecipheriv, createPublicKey, privateDecrypt, publicEncrypt, randomBytes, randomInt, type KeyObject } from 'node:crypto';

/**
 * FaceID's "敏感数据加密" (sensitive-field encryption), AES-256-CBC variant, as Tencent's own crypto SDK does it
 * (github.com/TencentCloud/faceid-api-crypto-golang, faceid/crypto.go, 2024-12): a fresh 32-character key
 * encrypts the fields (PKCS#7, one random 16-byte IV, base64), the key itself is RSA PKCS#1 v1.5-encrypted
 * with FaceID's public key (CiphertextBlob). GetDetectInfoEnhanced with IsEncryptResponse answers
 * Encryption.Iv + EncryptedBody, the response encrypted with the same key. Unlike that SDK we draw the key
 * and IV from the CSPRNG (it uses math/rand).
 */
export const FACEID_RSA_PUBLIC_KEY_PEM = `-----BEGIN RSA PUBLIC KEY-----
MIGJAoGBAMRJoaUkZN1d5Mp8F5V6itXmSLNM5Z771afayoI49SndkFtsspHS402Z
EUUPQfqbuZk/VuSh59LtA/fBKzb4BP5bV8aqogVhG4e/q+NDkwlaq0i31HwLyBla
EojE/EEHpXBsuEkVTbKEy5elRq9toL7IZ80i+H2mtfU5CPsar+R3AgMBAAE=
-----END RSA PUBLIC KEY-----
`;

export const FACEID_ALGORITHM = 'AES-256-CBC';
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export interface FaceIdEncryption {
  EncryptList: string[];
  CiphertextBlob: string;
  Iv: string;
  Algorithm: string;
  TagList: string[];
}

export function faceIdPublicKey(pem: string = FACEID_RSA_PUBLIC_KEY_PEM): KeyObject {
  return createPublicKey(pem);
}

const newKey = () => Array.from({ length: 32 }, () => ALNUM[randomInt(ALNUM.length)]).join('');

function aes(key: string, iv: Buffer, data: string): string {
  const c = createCipheriv('aes-256-cbc', Buffer.from(key, 'latin1'), iv);
  return Buffer.concat([c.update(data, 'utf8'), c.final()]).toString('base64');
}

export function aesOpen(key: string, ivB64: string, dataB64: string): string {
  const d = createDecipheriv('aes-256-cbc', Buffer.from(key, 'latin1'), Buffer.from(ivB64, 'base64'));
  return Buffer.concat([d.update(Buffer.from(dataB64, 'base64')), d.final()]).toString('utf8');
}

/** Encrypts `fields` (e.g. Name, IdCard) and returns the request parameters plus the key to open the answer with. */
export function sealFields(publicKey: KeyObject, fields: Record<string, string>): { key: string; params: Record<string, unknown> } {
  const key = newKey();
  const iv = randomBytes(16);
  const params: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fields)) params[name] = aes(key, iv, value);
  const encryption: FaceIdEncryption = {
    EncryptList: Object.keys(fields),
    CiphertextBlob: publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.from(key, 'latin1')).toString('base64'),
    Iv: iv.toString('base64'),
    Algorithm: FACEID_ALGORITHM,
    TagList: [],
  };
  return { key, params: { ...params, Encryption: encryption } };
}

/** The request-side Encryption for an encrypted response (no fields of ours to hide, only the key to pass). */
export function sealForResponse(publicKey: KeyObject): { key: string; encryption: FaceIdEncryption } {
  const { key, params } = sealFields(publicKey, {});
  return { key, encryption: { ...(params.Encryption as FaceIdEncryption), EncryptList: ['EncryptionBody'] } };
}

/**
 * The sandbox's side: recovers the symmetric key. Node refuses PKCS#1 v1.5 private decryption (CVE-2023-46809,
 * a timing oracle), so the sandbox strips the padding itself from a raw RSA operation: acceptable for a test
 * double that holds a throwaway key, never for a real secret.
 */
export function sandboxOpenKey(privateKeyPem: string, blobB64: string): string {
  const raw = privateDecrypt({ key: privateKeyPem, padding: constants.RSA_NO_PADDING }, Buffer.from(blobB64, 'base64'));
  if (raw[0] !== 0 || raw[1] !== 2) throw new Error('bad PKCS#1 v1.5 block');
  const sep = raw.indexOf(0, 2);
  if (sep < 10) throw new Error('bad PKCS#1 v1.5 block');
  return raw.subarray(sep + 1).toString('latin1');
}

export function sandboxSealBody(key: string, body: unknown): { Iv: string; EncryptedBody: string } {
  const iv = randomBytes(16);
  return { Iv: iv.toString('base64'), EncryptedBody: aes(key, iv, JSON.stringify(body)) };
}
