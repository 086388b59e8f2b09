import { type Clock, nowSeconds } from '../../lib/clock';
import { aesGcmDecrypt, MAX_SKEW_SECONDS, rsaVerify, SIGNTEST_PREFIX, signedMessage, type WechatPayKeyRing } from './sign';
import { type WechatPayRefund, type WechatPayTransaction } from './types';

export type NotifyRefusalReason = 'bad-signature' | 'unknown-serial' | 'stale' | 'bad-ciphertext' | 'malformed';

/** A notify we will not act on. The endpoint answers 4xx + {"code":"FAIL","message":…} so WeChat Pay resends. */
export class NotifyRefused extends Error {
  constructor(readonly reason: NotifyRefusalReason, readonly detail: string, readonly probe = false) {
    super(`wechatpay notify refused (${reason}): ${detail}`);
    this.name = 'NotifyRefused';
  }
}

interface Envelope {
  id: string;
  create_time: string;
  event_type: string;
  resource_type: string;
  summary?: string;
}

export type VerifiedNotify =
  | (Envelope & { kind: 'transaction'; transaction: WechatPayTransaction })
  | (Envelope & { kind: 'refund'; refund: WechatPayRefund });

export interface NotifyVerifierOptions {
  keys: WechatPayKeyRing;
  apiV3Key: string;
  clock: Clock;
  /**
   * Told (not awaited) when a notify names a serial the ring lacks: the keeper refreshes, rate-limited, and WeChat
   * Pay's resend 15 s later verifies. A notify handler never waits on a download a forger could trigger.
   */
  onUnknownSerial?: (serial: string) => void;
}

type Headers = Record<string, string | string[] | undefined>;
const header = (h: Headers, name: string): string | undefined => {
  const v = h[name] ?? h[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
};
const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/**
 * Verifies a WeChat Pay notify over its RAW body and returns the decrypted resource. Order of checks: headers
 * present, key by Wechatpay-Serial (unknown → refuse; the keeper may refresh in the background, rate-limited), 5-minute window, signature over
 * `timestamp\nnonce\nbody\n`, then AEAD_AES_256_GCM with the tag checked. Deciding whether the content matches
 * an order (appid, mchid, amount, trade_state) is the caller's job.
 */
export function createNotifyVerifier(opts: NotifyVerifierOptions) {
  return function verifyNotify(headers: Headers, rawBody: string | Buffer): VerifiedNotify {
    const body = typeof rawBody === 'string' ? rawBody : rawBody.toString('utf8');
    const serial = header(headers, 'wechatpay-serial');
    const signature = header(headers, 'wechatpay-signature');
    const timestamp = header(headers, 'wechatpay-timestamp');
    const nonce = header(headers, 'wechatpay-nonce');
    if (!serial || !signature || !timestamp || !nonce) throw new NotifyRefused('malformed', 'Wechatpay-* headers missing');
    const probe = signature.startsWith(SIGNTEST_PREFIX);
    const key = opts.keys.get(serial);
    if (!key && !probe) opts.onUnknownSerial?.(serial);
    if (!key) throw new NotifyRefused('unknown-serial', `Wechatpay-Serial ${serial.slice(0, 64)} is not a configured key`, probe);
    if (!/^\d{1,12}$/.test(timestamp) || Math.abs(nowSeconds(opts.clock) - Number(timestamp)) > MAX_SKEW_SECONDS) {
      throw new NotifyRefused('stale', `Wechatpay-Timestamp ${timestamp.slice(0, 20)} is outside 5 minutes`, probe);
    }
    // A probe's signature is never valid, so it fails here like any forgery (as WeChat Pay wants it to).
    if (probe || !rsaVerify(key, signedMessage(timestamp, nonce, body), signature)) {
      throw new NotifyRefused('bad-signature', probe ? 'signature probe (WECHATPAY/SIGNTEST/)' : 'signature does not verify', probe);
    }

    let envelope: unknown;
    try {
      envelope = JSON.parse(body);
    } catch {
      throw new NotifyRefused('malformed', 'body is not JSON');
    }
    if (!isObj(envelope) || !isObj(envelope.resource) || typeof envelope.event_type !== 'string' || typeof envelope.id !== 'string') {
      throw new NotifyRefused('malformed', 'not a notify envelope');
    }
    const r = envelope.resource;
    if (r.algorithm !== 'AEAD_AES_256_GCM' || typeof r.ciphertext !== 'string' || typeof r.nonce !== 'string') {
      throw new NotifyRefused('malformed', `resource algorithm ${String(r.algorithm)} or fields missing`);
    }
    let plain: unknown;
    try {
      plain = JSON.parse(aesGcmDecrypt(opts.apiV3Key, r.nonce, typeof r.associated_data === 'string' ? r.associated_data : '', r.ciphertext));
    } catch (err) {
      throw new NotifyRefused('bad-ciphertext', `resource does not decrypt and authenticate (${(err as Error).message})`);
    }
    if (!isObj(plain)) throw new NotifyRefused('malformed', 'decrypted resource is not an object');
    const env: Envelope = {
      id: envelope.id,
      create_time: String(envelope.create_time ?? ''),
      event_type: envelope.event_type,
      resource_type: String(envelope.resource_type ?? ''),
      summary: typeof envelope.summary === 'string' ? envelope.summary : undefined,
    };
    if (r.original_type === 'transaction' && envelope.event_type.startsWith('TRANSACTION.')) {
      if (typeof plain.out_trade_no !== 'string' || typeof plain.trade_state !== 'string') throw new NotifyRefused('malformed', 'transaction without out_trade_no/trade_state');
      return { ...env, kind: 'transaction', transaction: plain as unknown as WechatPayTransaction };
    }
    if (r.original_type === 'refund' && envelope.event_type.startsWith('REFUND.')) {
      if (typeof plain.out_refund_no !== 'string' || typeof plain.refund_status !== 'string') throw new NotifyRefused('malformed', 'refund without out_refund_no/refund_status');
      return { ...env, kind: 'refund', refund: { ...(plain as unknown as WechatPayRefund), status: plain.refund_status as WechatPayRefund['status'] } };
    }
    throw new NotifyRefused('malformed', `unexpected event ${envelope.event_type} / ${String(r.original_type)}`);
  };
}

export type NotifyVerifier = ReturnType<typeof createNotifyVerifier>;
