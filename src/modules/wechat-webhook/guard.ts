import { createHash } from 'node:crypto';
import { type WechatConfig } from '../../config';
import { MessageCryptoError, sha1Signature, signaturesEqual, WechatMessageCrypto } from './crypto';
import { assertNoDeclarations, parseWechatXml, text, type WechatXml, XmlRefusedError } from './xml';

/**
 * Decides whether an inbound webhook request really comes from WeChat. The mode comes from configuration:
 * with an EncodingAESKey every POST must be encrypted and carry msg_signature (the plain `signature` does not
 * cover the body, so a plaintext POST in safe mode could be forged by anyone who saw one signed URL).
 */
export const TIMESTAMP_WINDOW_S = 300;

export type RefusalOutcome = 'forged' | 'stale' | 'downgraded' | 'malformed' | 'wrong_appid' | 'too_large';

export class WebhookRefusal extends Error {
  constructor(readonly status: 400 | 401 | 403 | 413, readonly outcome: RefusalOutcome, reason: string) {
    super(reason);
  }
}

export interface WebhookQuery {
  signature?: string;
  timestamp?: string;
  nonce?: string;
  echostr?: string;
  encrypt_type?: string;
  msg_signature?: string;
}

export interface VerifiedMessage {
  message: WechatXml;
  /** Identifies this exact request (timestamp, nonce, signature): a second sight of it is a replay. */
  replayKey: string;
  encrypted: boolean;
}

const one = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

// The outer envelope of a safe-mode request is only a carrier for <Encrypt> (base64, ≤ 64 KB): pulling it out
// with a strict pattern avoids a full XML parse per request; everything that matters is inside, signed.
const ENCRYPT_ELEMENT = /<Encrypt>\s*(?:<!\[CDATA\[([A-Za-z0-9+/=]+)\]\]>|([A-Za-z0-9+/=]+))\s*<\/Encrypt>/;

function encryptedPart(body: string): string {
  try {
    assertNoDeclarations(body);
  } catch (err) {
    throw new WebhookRefusal(400, 'malformed', (err as XmlRefusedError).message);
  }
  if (!/^\s*(<\?xml[^>]*\?>\s*)?<xml>[\s\S]*<\/xml>\s*$/.test(body)) throw new WebhookRefusal(400, 'malformed', 'body is not a WeChat <xml> envelope');
  const match = ENCRYPT_ELEMENT.exec(body);
  if (!match) throw new WebhookRefusal(400, 'malformed', 'encrypted request without <Encrypt>');
  return match[1] ?? match[2];
}

export class WebhookGuard {
  private readonly crypto?: WechatMessageCrypto;

  constructor(private readonly config: WechatConfig, private readonly nowSeconds: () => number) {
    if (config.encodingAesKey) this.crypto = new WechatMessageCrypto(config.token, config.encodingAesKey, config.appId);
  }

  get safeMode(): boolean {
    return this.crypto !== undefined;
  }

  private checkTimestamp(timestamp: string | undefined) {
    if (!timestamp || !/^\d{1,12}$/.test(timestamp)) throw new WebhookRefusal(401, 'malformed', 'missing or non-numeric timestamp');
    const skew = Math.abs(this.nowSeconds() - Number(timestamp));
    if (skew > TIMESTAMP_WINDOW_S) throw new WebhookRefusal(403, 'stale', `timestamp ${skew}s away from the server clock`);
  }

  private checkPlainSignature(q: WebhookQuery) {
    const nonce = one(q.nonce);
    if (!nonce) throw new WebhookRefusal(401, 'malformed', 'missing nonce');
    if (!signaturesEqual(sha1Signature(this.config.token, q.timestamp!, nonce), one(q.signature))) {
      throw new WebhookRefusal(401, 'forged', 'signature does not match');
    }
  }

  /**
   * GET URL verification: WeChat sends the plain signature and a plaintext echostr in every mode (the
   * WeCom-style encrypted echostr does not apply to official accounts).
   */
  verifyUrlCheck(q: WebhookQuery): string {
    this.checkTimestamp(one(q.timestamp));
    this.checkPlainSignature(q);
    const echostr = one(q.echostr);
    if (!echostr) throw new WebhookRefusal(400, 'malformed', 'missing echostr');
    return echostr;
  }

  verifyPost(q: WebhookQuery, body: string): VerifiedMessage {
    const timestamp = one(q.timestamp);
    this.checkTimestamp(timestamp);
    const nonce = one(q.nonce);
    if (!nonce || nonce.length > 64) throw new WebhookRefusal(401, 'malformed', 'missing or oversized nonce');

    let message: WechatXml;
    let signature: string;
    if (this.crypto) {
      const msgSignature = one(q.msg_signature);
      if (q.encrypt_type !== 'aes' || !msgSignature) throw new WebhookRefusal(401, 'downgraded', 'plaintext POST refused in safe mode');
      const encrypt = encryptedPart(body);
      if (!signaturesEqual(this.crypto.signature(timestamp!, nonce, encrypt), msgSignature)) {
        throw new WebhookRefusal(401, 'forged', 'msg_signature does not match');
      }
      let decrypted;
      try {
        decrypted = this.crypto.decrypt(encrypt);
      } catch (err) {
        // A valid msg_signature with undecryptable content means the token leaked but not the key, or a bug.
        throw new WebhookRefusal(400, 'malformed', `cannot decrypt: ${(err as MessageCryptoError).message}`);
      }
      if (decrypted.appId !== this.config.appId) throw new WebhookRefusal(403, 'wrong_appid', `message is for appid ${decrypted.appId.slice(0, 24)}`);
      message = this.parse(decrypted.message);
      signature = msgSignature;
    } else {
      if (q.encrypt_type && q.encrypt_type !== 'raw') throw new WebhookRefusal(400, 'malformed', `encrypt_type=${String(q.encrypt_type).slice(0, 16)} but no EncodingAESKey is configured`);
      this.checkPlainSignature(q);
      message = this.parse(body);
      signature = q.signature!;
    }

    const from = text(message, 'FromUserName');
    if (!from || !/^[A-Za-z0-9_-]{1,64}$/.test(from) || !text(message, 'MsgType') || !text(message, 'ToUserName')) {
      throw new WebhookRefusal(400, 'malformed', 'message lacks FromUserName, ToUserName or MsgType');
    }
    const replayKey = createHash('sha1').update(`${timestamp}\n${nonce}\n${signature.toLowerCase()}`).digest('hex');
    return { message, replayKey, encrypted: this.crypto !== undefined };
  }

  private parse(xml: string): WechatXml {
    try {
      return parseWechatXml(xml);
    } catch (err) {
      throw new WebhookRefusal(400, 'malformed', (err as XmlRefusedError).message);
    }
  }
}
