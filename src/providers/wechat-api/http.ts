import { type Logger } from '../../lib/logger';
import { type Metrics } from '../../lib/metrics';
import { scrub, TRANSPORT_ERRCODE, WechatApiError } from './errors';

export type WechatJson = Record<string, unknown>;

/**
 * JSON.parse, except that integers beyond 2^53 come back as strings. WeChat's msgid (and a few other ids)
 * exceed 2^53; a plain parse would silently round them, and a rounded msgid matches no delivery report.
 * A small scanner (not a regex over the whole text) so digits inside string values are never touched.
 */
export function parseWechatJson(text: string): unknown {
  let out = '';
  let i = 0;
  let copiedUpTo = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '"') {
      // Skip the string, honouring escapes.
      i++;
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      i++;
      continue;
    }
    if (ch === '-' || (ch >= '0' && ch <= '9')) {
      const match = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
      const token = match ? match[0] : ch;
      if (match && !match[1] && !match[2] && !Number.isSafeInteger(Number(token))) {
        out += `${text.slice(copiedUpTo, i)}"${token}"`;
        copiedUpTo = i + token.length;
      }
      i += token.length;
      continue;
    }
    i++;
  }
  return JSON.parse(out + text.slice(copiedUpTo));
}

export interface WechatRequest {
  method: 'GET' | 'POST';
  query?: Record<string, string>;
  body?: unknown;
  /** Values that must never reach a log line or an error message (token, secret, OAuth code). */
  secrets?: Array<string | undefined>;
}

/**
 * One HTTP exchange with WeChat: timeout, JSON parsing, errcode → WechatApiError, a metric per call.
 * WeChat answers errors with HTTP 200 and {errcode, errmsg}; anything else (network, 5xx, non-JSON)
 * becomes a transport error. Logs name the api only, never the URL: the query carries the token.
 */
export class WechatHttp {
  constructor(
    private readonly opts: { apiBase: string; fetch: typeof fetch; logger: Logger; metrics: Metrics; timeoutMs: number },
  ) {}

  async call(api: string, req: WechatRequest): Promise<WechatJson> {
    const url = `${this.opts.apiBase}/${api}${req.query ? `?${new URLSearchParams(req.query)}` : ''}`;
    let parsed: unknown;
    try {
      const res = await this.opts.fetch(url, {
        method: req.method,
        headers: req.body === undefined ? undefined : { 'content-type': 'application/json; charset=utf-8' },
        body: req.body === undefined ? undefined : JSON.stringify(req.body),
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      parsed = parseWechatJson(text);
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('answer is not a JSON object');
    } catch (err) {
      const reason = (err as Error).name === 'TimeoutError' ? `no answer within ${this.opts.timeoutMs} ms` : (err as Error).message;
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      const error = new WechatApiError(api, TRANSPORT_ERRCODE, scrub(`${reason}${cause ? ` (${cause})` : ''}`, req.secrets ?? []));
      this.opts.metrics.wechatApiCalls.inc({ api, result: 'transport' });
      this.opts.logger.warn({ api, errcode: error.errcode, errmsg: error.errmsg }, 'wechat api unreachable');
      throw error;
    }
    const body = parsed as WechatJson;
    const errcode = Number(body.errcode ?? 0);
    if (errcode !== 0) {
      const error = new WechatApiError(api, errcode, scrub(String(body.errmsg ?? ''), req.secrets ?? []));
      this.opts.metrics.wechatApiCalls.inc({ api, result: String(errcode) });
      this.opts.logger.warn({ api, errcode, errmsg: error.errmsg }, 'wechat api refused the call');
      throw error;
    }
    this.opts.metrics.wechatApiCalls.inc({ api, result: 'ok' });
    return body;
  }
}
