import { createHash } from 'node:crypto';
import { type WechatPayConfig } from '../../config';
import { type Clock, nowSeconds, type Random } from '../../lib/clock';
import { ValidationError } from '../../lib/errors';
import { type Logger } from '../../lib/logger';
import { type WechatPayKeys } from './keys';
import { decryptCertificateList, isValidAt, type PlatformCertificate } from './certificates';
import { buildAuthorization, MAX_SKEW_SECONDS, nonceStr, rsaVerify, sameSerial, signedMessage, signJsapiPayParams } from './sign';
import { parseTradeBill, TradeBillFormatError } from './trade-bill';
import { type JsapiPrepayInput, OUT_TRADE_NO, type RefundInput, type WechatPayClient, WechatPayError, type WechatPayRefund, type WechatPayTransaction } from './types';

export interface WechatPayClientOptions {
  config: WechatPayConfig;
  keys: WechatPayKeys;
  clock: Clock;
  random: Random;
  logger: Logger;
  fetch?: typeof fetch;
  /** WeChat Pay normally answers within a second; a hung call must not hold a page or a job. */
  timeoutMs?: number;
  /** A signed answer names a serial the ring lacks: the keeper may refresh (it rate-limits) before we refuse. */
  onUnknownSerial?: (serial: string) => Promise<void>;
}

type Json = Record<string, unknown>;

/** time_expire as WeChat Pay writes times: RFC 3339 in Beijing time, e.g. 2026-11-26T10:00:00+08:00. */
export function rfc3339Beijing(ms: number): string {
  return `${new Date(ms + 8 * 3600_000).toISOString().slice(0, 19)}+08:00`;
}

function refundOf(j: Json): WechatPayRefund {
  return { ...(j as unknown as WechatPayRefund), status: (j.status ?? j.refund_status) as WechatPayRefund['status'] };
}

/**
 * WeChat Pay APIv3 over HTTPS with our own request signing (see README: wechatpay-node-v3 hard-codes the base
 * URL, drops prepay_id, uses Math.random nonces, mis-signs encoded paths and never verifies responses).
 * Every 2xx answer must carry a valid Wechatpay-Signature from a key in the ring, within 5 minutes; anything else
 * is refused before a caller can act on it.
 */
export function createWechatPayClient(opts: WechatPayClientOptions): WechatPayClient {
  const { config, keys, clock, random, logger } = opts;
  const doFetch = opts.fetch ?? globalThis.fetch;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const merchant = { mchId: config.mchId, serialNo: config.serialNo, privateKey: keys.merchantPrivateKey };

  /**
   * The answer must be signed by a key in the ring (or, for the certificate download only, by a certificate
   * decrypted from that very answer). An unknown serial first asks the keeper to refresh (rate-limited there).
   */
  async function verifyResponse(path: string, res: Response, body: string, fromBody?: PlatformCertificate[]): Promise<void> {
    const h = (n: string) => res.headers.get(n) ?? undefined;
    const serial = h('wechatpay-serial');
    const signature = h('wechatpay-signature');
    const timestamp = h('wechatpay-timestamp');
    const nonce = h('wechatpay-nonce');
    const refuse = (why: string): never => {
      logger.error({ alert: true, path, status: res.status, serial, why }, 'wechatpay response refused');
      throw new WechatPayError('bad-response-signature', `${path}: response refused: ${why}`, undefined, res.status);
    };
    if (!serial || !signature || !timestamp || !nonce) return refuse('unsigned');
    let key = keys.verifiers.get(serial) ?? fromBody?.find((c) => sameSerial(c.serialNo, serial) && isValidAt(c, clock.nowMs()))?.publicKey;
    if (!key && !fromBody && opts.onUnknownSerial) {
      await opts.onUnknownSerial(serial).catch(() => undefined);
      key = keys.verifiers.get(serial);
    }
    if (!key) return refuse(`unknown Wechatpay-Serial ${serial.slice(0, 64)}`);
    if (!/^\d{1,12}$/.test(timestamp) || Math.abs(nowSeconds(clock) - Number(timestamp)) > MAX_SKEW_SECONDS) refuse('timestamp outside 5 minutes');
    if (!rsaVerify(key, signedMessage(timestamp, nonce, body), signature)) refuse('bad signature');
  }

  /**
   * Signed request with a timeout; a 2xx answer is returned unverified (the caller verifies), anything else throws.
   * When the primary host cannot be reached (DNS, connect, reset, timeout) the same call goes once to the backup
   * domain (api2, WeChat Pay's 跨城容灾 entry), freshly signed. Safe for every call made here: prepay, close and
   * query are keyed by out_trade_no and refunds by out_refund_no, so a call that did land is not repeated as new.
   * An HTTP answer, even a 5xx, is never failed over: the primary did answer.
   */
  async function send(method: 'GET' | 'POST', path: string, payload?: Json): Promise<{ res: Response; text: string }> {
    const body = payload === undefined ? '' : JSON.stringify(payload);
    const bases = config.apiBackupBase ? [config.apiBase, config.apiBackupBase] : [config.apiBase];
    let res: Response | undefined;
    let text = '';
    for (let i = 0; i < bases.length && !res; i++) {
      // WeChat Pay signs "the request's absolute URL without the domain": the full path as it goes on the wire,
      // including any path prefix of the base (a gateway, the sandbox's mount point) and the query string.
      const url = new URL(`${bases[i]}${path}`);
      const headers: Record<string, string> = {
        Accept: 'application/json',
        'User-Agent': 'shuan-ca-guanjia (node)',
        Authorization: buildAuthorization(merchant, method, `${url.pathname}${url.search}`, body, clock, random),
      };
      if (payload !== undefined) headers['Content-Type'] = 'application/json';
      try {
        const answer = await doFetch(url, { method, headers, body: payload === undefined ? undefined : body, signal: AbortSignal.timeout(timeoutMs) });
        text = await answer.text();
        res = answer;
      } catch (err) {
        const last = i === bases.length - 1;
        logger.warn({ path, host: new URL(bases[i]!).host, err: (err as Error).message, failover: !last }, last ? 'wechatpay call failed in transport' : 'wechatpay unreachable: trying the backup domain');
        if (last) throw new WechatPayError('transport', `${method} ${path}: ${(err as Error).message}`, undefined, undefined, { cause: err });
      }
    }
    if (!res) throw new WechatPayError('transport', `${method} ${path}: no host answered`);
    if (res.status >= 200 && res.status < 300) return { res, text };
    // Error answers carry {code, message}; like the official SDKs we read them without a signature check,
    // since nothing is ever credited on an error.
    let code: string | undefined;
    let message = '';
    try {
      const j = JSON.parse(text) as Json;
      code = typeof j.code === 'string' ? j.code : undefined;
      message = typeof j.message === 'string' ? j.message : '';
    } catch { /* not JSON: keep the status */ }
    logger.warn({ path, status: res.status, code, message }, 'wechatpay refused a call');
    throw new WechatPayError('api', `${method} ${path}: HTTP ${res.status} ${code ?? ''} ${message}`.trim(), code, res.status);
  }

  const parseJson = (method: string, path: string, status: number, text: string): Json => {
    try {
      const j: unknown = JSON.parse(text);
      if (j && typeof j === 'object' && !Array.isArray(j)) return j as Json;
    } catch { /* fall through */ }
    throw new WechatPayError('bad-response', `${method} ${path}: 2xx body is not a JSON object`, undefined, status);
  };

  async function call(method: 'GET' | 'POST', path: string, payload?: Json): Promise<{ status: number; json: Json }> {
    const { res, text } = await send(method, path, payload);
    await verifyResponse(path, res, text);
    return { status: res.status, json: text ? parseJson(method, path, res.status, text) : {} };
  }

  /**
   * GET /v3/certificates through the same signed, timeout-bounded path. Every entry is decrypted (tag checked)
   * and checked before the signature is; the answer may be signed by a ring key or by a certificate it carries.
   * Returns the currently valid certificates; throws (nothing returned) when any part does not check.
   */
  async function downloadCertificates(): Promise<PlatformCertificate[]> {
    const path = '/v3/certificates';
    const { res, text } = await send('GET', path);
    let all: PlatformCertificate[];
    try {
      all = decryptCertificateList(parseJson('GET', path, res.status, text), config.apiV3Key);
    } catch (err) {
      logger.error({ alert: true, path, err: (err as Error).message }, 'wechatpay platform certificates refused');
      throw err;
    }
    await verifyResponse(path, res, text, all);
    return all.filter((c) => isValidAt(c, clock.nowMs()));
  }

  /**
   * The bill file at the download_url of a signed /v3/bill/tradebill answer. The request is signed like every APIv3
   * call, but this answer carries no Wechatpay-Signature (WeChat Pay: 需要跳过验签): its integrity is the SHA1 from
   * the signed answer instead. Our Authorization goes only to WeChat Pay's own hosts (the configured bases), never to
   * whatever host a download_url might name.
   */
  async function downloadBill(downloadUrl: string, sha1: string): Promise<Buffer> {
    let url: URL;
    try {
      url = new URL(downloadUrl);
    } catch {
      throw new WechatPayError('bad-response', 'tradebill: download_url is not a URL');
    }
    const ours = [config.apiBase, config.apiBackupBase].filter((b): b is string => !!b).map((b) => new URL(b).origin);
    if (!ours.includes(url.origin)) throw new WechatPayError('bad-response', `tradebill: download_url host ${url.host} is not WeChat Pay's`);
    const authorization = buildAuthorization(merchant, 'GET', `${url.pathname}${url.search}`, '', clock, random);
    let res: Response;
    try {
      res = await doFetch(url, { headers: { Accept: '*/*', 'User-Agent': 'shuan-ca-guanjia (node)', Authorization: authorization }, signal: AbortSignal.timeout(timeoutMs * 6) });
    } catch (err) {
      throw new WechatPayError('transport', `GET bill file: ${(err as Error).message}`, undefined, undefined, { cause: err });
    }
    const bytes = Buffer.from(await res.arrayBuffer());
    if (res.status !== 200) throw new WechatPayError('api', `GET bill file: HTTP ${res.status}`, undefined, res.status);
    if (createHash('sha1').update(bytes).digest('hex') !== sha1.toLowerCase()) {
      logger.error({ alert: true, bytes: bytes.length }, 'wechatpay bill file refused: SHA1 differs from the signed answer');
      throw new WechatPayError('bad-response', 'bill file: SHA1 differs from hash_value');
    }
    return bytes;
  }

  const checkOutTradeNo = (no: string) => {
    if (!OUT_TRADE_NO.test(no)) throw new ValidationError('订单号格式错误', `out_trade_no ${JSON.stringify(no)} is not [A-Za-z0-9_-]{6,32}`);
  };
  const mchQuery = `mchid=${encodeURIComponent(config.mchId)}`;

  return {
    mode: config.mode,
    downloadCertificates,
    appId: config.appId,
    mchId: config.mchId,

    async jsapiPrepay(input: JsapiPrepayInput) {
      checkOutTradeNo(input.outTradeNo);
      if (!Number.isSafeInteger(input.amountFen) || input.amountFen < 1) throw new ValidationError('金额错误', `amountFen ${input.amountFen} is not a positive integer`);
      if (input.expiresAtMs < clock.nowMs() + 60_000) throw new ValidationError('订单已过期', 'time_expire must be at least a minute ahead');
      const { json } = await call('POST', '/v3/pay/transactions/jsapi', {
        appid: config.appId,
        mchid: config.mchId,
        description: input.description.slice(0, 127),
        out_trade_no: input.outTradeNo,
        time_expire: rfc3339Beijing(input.expiresAtMs),
        ...(input.attach ? { attach: input.attach } : {}),
        notify_url: input.notifyUrl ?? config.notifyUrl,
        amount: { total: input.amountFen, currency: 'CNY' },
        payer: { openid: input.openid },
      });
      if (typeof json.prepay_id !== 'string' || !json.prepay_id) throw new WechatPayError('bad-response', 'jsapi prepay: no prepay_id');
      return { prepayId: json.prepay_id };
    },

    jsapiPayParams(prepayId: string) {
      return signJsapiPayParams(keys.merchantPrivateKey, config.appId, prepayId, String(nowSeconds(clock)), nonceStr(random));
    },

    async queryByOutTradeNo(outTradeNo: string) {
      checkOutTradeNo(outTradeNo);
      try {
        const { json } = await call('GET', `/v3/pay/transactions/out-trade-no/${outTradeNo}?${mchQuery}`);
        return json as unknown as WechatPayTransaction;
      } catch (err) {
        if (err instanceof WechatPayError && err.wechatCode === 'ORDER_NOT_EXIST') return undefined;
        throw err;
      }
    },

    async close(outTradeNo: string) {
      checkOutTradeNo(outTradeNo);
      await call('POST', `/v3/pay/transactions/out-trade-no/${outTradeNo}/close`, { mchid: config.mchId });
    },

    async refund(input: RefundInput) {
      checkOutTradeNo(input.outTradeNo);
      if (!/^[A-Za-z0-9_\-|*@]{1,64}$/.test(input.outRefundNo)) throw new ValidationError('退款单号格式错误', 'out_refund_no');
      if (!Number.isSafeInteger(input.refundFen) || input.refundFen < 1 || input.refundFen > input.totalFen) throw new ValidationError('退款金额错误', `refund ${input.refundFen} of ${input.totalFen}`);
      const { json } = await call('POST', '/v3/refund/domestic/refunds', {
        out_trade_no: input.outTradeNo,
        out_refund_no: input.outRefundNo,
        ...(input.reason ? { reason: input.reason.slice(0, 80) } : {}),
        notify_url: input.notifyUrl ?? config.notifyUrl,
        amount: { refund: input.refundFen, total: input.totalFen, currency: 'CNY' },
      });
      return refundOf(json);
    },

    async tradeBill(billDate: string) {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(billDate)) throw new ValidationError('账单日期格式错误', `bill_date ${JSON.stringify(billDate)} is not yyyy-MM-dd`);
      let json: Json;
      try {
        ({ json } = await call('GET', `/v3/bill/tradebill?bill_date=${billDate}&bill_type=ALL`));
      } catch (err) {
        if (err instanceof WechatPayError && err.wechatCode === 'NO_STATEMENT_EXIST') return undefined;
        throw err;
      }
      if (json.hash_type !== 'SHA1' || typeof json.hash_value !== 'string' || typeof json.download_url !== 'string') {
        throw new WechatPayError('bad-response', 'tradebill: answer lacks hash_type SHA1, hash_value or download_url');
      }
      const bytes = await downloadBill(json.download_url, json.hash_value);
      try {
        return parseTradeBill(bytes.toString('utf8'));
      } catch (err) {
        if (err instanceof TradeBillFormatError) throw new WechatPayError('bad-response', `bill ${billDate}: ${err.message}`);
        throw err;
      }
    },

    async queryRefund(outRefundNo: string) {
      try {
        const { json } = await call('GET', `/v3/refund/domestic/refunds/${encodeURIComponent(outRefundNo)}`);
        return refundOf(json);
      } catch (err) {
        if (err instanceof WechatPayError && err.wechatCode === 'RESOURCE_NOT_EXISTS') return undefined;
        throw err;
      }
    },
  };
}
