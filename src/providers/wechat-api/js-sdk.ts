import { createHash } from 'node:crypto';
import { type Random, randomToken } from '../../lib/clock';

/**
 * The JS-SDK's permission check (wx.config). WeChat's client signs nothing itself: the page passes appId,
 * timestamp, nonceStr and a signature we computed from the jsapi_ticket, and WeChat recomputes it for the
 * page's address. Documented as 附录1 JS-SDK使用权限签名算法: the four fields sorted by name, joined as
 * `key=value&…` with the raw values (no URL escaping), SHA-1 in lower-case hex.
 */
export interface JsSdkSignatureInput {
  jsapiTicket: string;
  nonceStr: string;
  /** Seconds since the epoch, as wx.config's `timestamp`. */
  timestamp: number;
  /** The page's address as the browser has it; anything from '#' on is not signed (WeChat drops it too). */
  url: string;
}

/** The address WeChat signs: the page's URL without its fragment. */
export function signableUrl(url: string): string {
  const hash = url.indexOf('#');
  return hash === -1 ? url : url.slice(0, hash);
}

export function jsSdkSignature(input: JsSdkSignatureInput): string {
  // Already in ASCII order of the field names: jsapi_ticket < noncestr < timestamp < url.
  const string1 = `jsapi_ticket=${input.jsapiTicket}&noncestr=${input.nonceStr}&timestamp=${input.timestamp}&url=${signableUrl(input.url)}`;
  return createHash('sha1').update(string1, 'utf8').digest('hex');
}

/** What a page hands to wx.config (besides `beta` and `jsApiList`, which the page decides). */
export interface JsSdkConfig {
  appId: string;
  timestamp: number;
  nonceStr: string;
  signature: string;
}

/** A fresh nonceStr (letters and digits, WeChat takes up to 32) and timestamp per page view. */
export function jsSdkConfig(opts: { appId: string; jsapiTicket: string; url: string; nowMs: number; random: Random }): JsSdkConfig {
  const nonceStr = randomToken(opts.random, 16);
  const timestamp = Math.floor(opts.nowMs / 1000);
  return { appId: opts.appId, timestamp, nonceStr, signature: jsSdkSignature({ jsapiTicket: opts.jsapiTicket, nonceStr, timestamp, url: opts.url }) };
}
