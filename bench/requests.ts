import { randomBytes, randomInt } from 'node:crypto';
import { inboundXml, signedWebhookRequest, type WebhookIdentity } from '../src/modules/wechat-webhook/outbound-request';

/** The WeChat identity both (b) and (c) are configured with; the bench signs and encrypts as this account's WeChat. */
export const WECHAT_ENV = {
  WECHAT_APPID: 'wx1234567890abcdef',
  WECHAT_APPSECRET: 'abcdefghijklmnopqrstuvwxyz012345',
  WECHAT_TOKEN: 'testtoken123',
  WECHAT_ENCODING_AES_KEY: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
  // WECHAT_API_BASE: the (w) child's address, set by the bench once it listens.
} as const;

export const IDENTITY: WebhookIdentity = {
  appId: WECHAT_ENV.WECHAT_APPID,
  token: WECHAT_ENV.WECHAT_TOKEN,
  encodingAesKey: WECHAT_ENV.WECHAT_ENCODING_AES_KEY,
};

export const OPENIDS = process.env.BENCH_OPENIDS === 'sequential' ? 'sequential' : 'random';

export interface PreparedRequest {
  path: string;
  body: string;
  openid: string;
}

/**
 * Pre-signed, pre-encrypted `subscribe` events, each with its own timestamp/nonce pair and its own follower
 * (openid), so neither the replay cache nor the dedupe cache can short-cut any of them. Signing costs about
 * as much as the server's verification, so it is done before the measured run, never inside it.
 */
export class RequestPool {
  private items: PreparedRequest[] = [];
  private cursor = 0;
  private seq = 0;
  private readonly nonceBase = randomInt(100_000, 999_999);
  /** Requests the pool ran out of and had to sign on the fly (inside the measured run: should stay 0). */
  liveSigned = 0;

  constructor(private readonly tag: string) {}

  /**
   * WeChat openids look random (28 characters, `o` + base64url), so new followers land all over the unique
   * index; BENCH_OPENIDS=sequential gives `bench_<tag>_<n>` instead (every insert at the end of the index).
   */
  private openid(n: number): string {
    return OPENIDS === 'sequential' ? `bench_${this.tag}_${n}` : `o${randomBytes(20).toString('base64url')}`;
  }

  private sign(nowSeconds: number): PreparedRequest {
    const n = this.seq++;
    const openid = this.openid(n);
    const xml = inboundXml({
      toUser: 'gh_bench',
      fromUser: openid,
      createTime: nowSeconds,
      msgType: 'event',
      Event: 'subscribe',
      EventKey: 'qrscene_bench',
    });
    const { path, body } = signedWebhookRequest(IDENTITY, xml, { timestamp: nowSeconds, nonce: `${this.nonceBase}${n}` });
    return { path, body, openid };
  }

  /** Replaces the pool with `count` fresh requests stamped with the current time; returns the time it took. */
  refill(count: number): number {
    const started = performance.now();
    const now = Math.floor(Date.now() / 1000);
    this.items = new Array<PreparedRequest>(count);
    for (let i = 0; i < count; i++) this.items[i] = this.sign(now);
    this.cursor = 0;
    this.liveSigned = 0;
    return performance.now() - started;
  }

  get size(): number {
    return this.items.length;
  }

  get used(): number {
    return this.cursor;
  }

  /** The next unused request; never repeats one (that would be a replay answered `success`). */
  take(): PreparedRequest {
    if (this.cursor < this.items.length) return this.items[this.cursor++];
    this.liveSigned++;
    return this.sign(Math.floor(Date.now() / 1000));
  }
}
