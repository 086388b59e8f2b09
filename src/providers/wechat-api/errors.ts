import { BRAND } from '../../config/brand';
import { UpstreamError } from '../../lib/errors';

/** errcodes meaning "the access_token is bad": drop it and fetch another. */
export const TOKEN_ERRCODES: ReadonlySet<number> = new Set([40001, 40014, 42001]);

/** Our own code for a call that never got an answer from WeChat (network, timeout, non-JSON). */
export const TRANSPORT_ERRCODE = -2;

/**
 * errcodes for which trying again later changes nothing (or spends quota WeChat will refuse anyway).
 * Callers with a retry loop (jobs) read `WechatApiError.retryable`.
 */
const FINAL: ReadonlySet<number> = new Set([
  40003, 40013, 40029, 40037, 40097, 40125, 40163, 41001, 43004, 43101, 44004, 45009, 45015, 45047, 47001, 48001, 50001, 50002,
]);

const USER_MESSAGES: Record<number, string> = {
  45009: '微信接口今日调用次数已达上限，请明天再试',
  45011: '操作过于频繁，请稍后再试',
  43004: `您尚未关注公众号，请先关注「${BRAND.accountName}」`,
  45015: '超过回复时限，请重新发送消息后再试',
  45047: '消息发送过多，请稍后再试',
  40163: '授权已失效，请重新进入页面',
  40029: '授权无效或已过期，请重新进入页面',
  40003: '微信用户无效，请重新进入页面',
  48001: '公众号暂无此功能的权限',
};
const DEFAULT_USER_MESSAGE = '微信接口暂时不可用，请稍后再试';

export function userMessageFor(errcode: number): string {
  return USER_MESSAGES[errcode] ?? DEFAULT_USER_MESSAGE;
}

/**
 * WeChat refused a call (errcode ≠ 0) or could not be reached (errcode TRANSPORT_ERRCODE).
 * `upstreamCode` is the errcode, so generic handlers that only know UpstreamError still see it.
 * errmsg is WeChat's own text with any secret scrubbed; never the URL (the token travels in the query).
 */
export class WechatApiError extends UpstreamError {
  constructor(readonly api: string, readonly errcode: number, readonly errmsg: string, options?: { cause?: unknown }) {
    super(userMessageFor(errcode), `wechat ${api}: errcode ${errcode} ${errmsg}`, errcode, options);
  }

  get retryable(): boolean {
    return !FINAL.has(this.errcode);
  }

  get isTokenError(): boolean {
    return TOKEN_ERRCODES.has(this.errcode);
  }
}

/** Replaces every occurrence of the given secrets (token, appsecret, OAuth code) in text bound for logs or errors. */
export function scrub(text: string, secrets: ReadonlyArray<string | undefined>): string {
  let out = text;
  for (const secret of secrets) if (secret && secret.length >= 6) out = out.split(secret).join('[redacted]');
  return out;
}
