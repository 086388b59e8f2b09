import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { secretsEqual } from '../../lib/http/bearer';

/**
 * WeChat's message encryption (WXBizMsgCrypt): AES-256-CBC, IV = first 16 key bytes, PKCS#7 padded to 32-byte
 * blocks, plaintext = random(16) ‖ len(4, big endian) ‖ msg ‖ appid. Written here instead of using
 * wechat-crypto 0.0.2 (co-wechat's) because that one accepts malformed padding and lengths silently.
 */
export class MessageCryptoError extends Error {}

const BLOCK = 32;

export function sha1Signature(...parts: string[]): string {
  return createHash('sha1').update(parts.slice().sort().join('')).digest('hex');
}

/** Constant-time comparison of two hex signatures (lengths are public). */
export function signaturesEqual(expected: string, given: string | undefined): boolean {
  return typeof given === 'string' && secretsEqual(given.toLowerCase(), expected);
}

export class WechatMessageCrypto {
  private readonly key: Buffer;
  private readonly iv: Buffer;

  constructor(private readonly token: string, encodingAesKey: string, readonly appId: string) {
    this.key = Buffer.from(`${encodingAesKey}=`, 'base64');
    if (encodingAesKey.length !== 43 || this.key.length !== 32) throw new MessageCryptoError('EncodingAESKey must be 43 characters (32 bytes)');
    this.iv = this.key.subarray(0, 16);
  }

  /** msg_signature = sha1(sort(token, timestamp, nonce, encrypt)). */
  signature(timestamp: string, nonce: string, encrypt: string): string {
    return sha1Signature(this.token, timestamp, nonce, encrypt);
  }

  encrypt(message: string, random16: Buffer = randomBytes(16)): string {
    const msg = Buffer.from(message, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(msg.length, 0);
    const plain = Buffer.concat([random16, length, msg, Buffer.from(this.appId, 'utf8')]);
    const pad = BLOCK - (plain.length % BLOCK);
    const cipher = createCipheriv('aes-256-cbc', this.key, this.iv);
    cipher.setAutoPadding(false);
    return Buffer.concat([cipher.update(Buffer.concat([plain, Buffer.alloc(pad, pad)])), cipher.final()]).toString('base64');
  }

  /** Decrypts and checks the structure; the caller checks the returned appId against its own. */
  decrypt(encrypted: string): { message: string; appId: string } {
    const data = Buffer.from(encrypted, 'base64');
    if (data.length === 0 || data.length % 16 !== 0) throw new MessageCryptoError('ciphertext length is not a multiple of the AES block');
    const decipher = createDecipheriv('aes-256-cbc', this.key, this.iv);
    decipher.setAutoPadding(false);
    const plain = Buffer.concat([decipher.update(data), decipher.final()]);
    const pad = plain[plain.length - 1];
    if (pad < 1 || pad > BLOCK || pad > plain.length) throw new MessageCryptoError('bad padding');
    for (let i = plain.length - pad; i < plain.length; i++) if (plain[i] !== pad) throw new MessageCryptoError('bad padding');
    const content = plain.subarray(16, plain.length - pad);
    if (content.length < 4) throw new MessageCryptoError('message too short');
    const length = content.readUInt32BE(0);
    if (length > content.length - 4) throw new MessageCryptoError('message length exceeds the payload');
    return { message: content.subarray(4, 4 + length).toString('utf8'), appId: content.subarray(4 + length).toString('utf8') };
  }
}
