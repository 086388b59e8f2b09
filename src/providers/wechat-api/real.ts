import { type WechatConfig } from '../../config';
import { type Clock } from '../../lib/clock';
import { ValidationError } from '../../lib/errors';
import { type Logger } from '../../lib/logger';
import { type Metrics } from '../../lib/metrics';
import { type KeyValueStore } from '../../lib/store/types';
import { TRANSPORT_ERRCODE, WechatApiError } from './errors';
import { type WechatJson, WechatHttp, type WechatRequest } from './http';
import { JSAPI_TICKET_API, JsapiTicketManager } from './jsapi-ticket';
import { AccessTokenManager } from './token';
import { type OAuthIdentity, type QrCodeTicket, type SubscribeMessage, type TemplateMessage, type WechatApi, type WechatUserInfo } from './types';

export interface WechatApiClientOptions {
  wechat: WechatConfig;
  store: KeyValueStore;
  logger: Logger;
  metrics: Metrics;
  clock: Clock;
  fetch?: typeof fetch;
  /** Per-call timeout; WeChat normally answers in well under a second. */
  timeoutMs?: number;
}

export const MAX_QR_EXPIRE_SECONDS = 2_592_000;
const SCENE_STR = /^[\x21-\x7e]{1,64}$/;

/**
 * The WeChat API over HTTPS (or over loopback to the sandbox: same code, other WECHAT_API_BASE).
 * Calls that carry the access_token go through `authed`, which owns the token-error recovery:
 * bad token → drop it and fetch again once → if still 40001, one rate-limited force_refresh → alert.
 */
export function createWechatApiClient(opts: WechatApiClientOptions): WechatApi {
  const { wechat, logger, metrics } = opts;
  const http = new WechatHttp({ apiBase: wechat.apiBase, fetch: opts.fetch ?? globalThis.fetch, logger, metrics, timeoutMs: opts.timeoutMs ?? 5000 });
  const tokens = new AccessTokenManager({ http, store: opts.store, logger, metrics, clock: opts.clock, appId: wechat.appId, appSecret: wechat.appSecret });

  const withToken = (req: WechatRequest, token: string): WechatRequest => ({
    ...req,
    query: { access_token: token, ...req.query },
    secrets: [...(req.secrets ?? []), token],
  });

  const alert = (api: string, reason: string) => {
    metrics.tokenRefreshes.inc({ result: 'alert' });
    // Someone else is probably fetching tokens for this appid (another system, the old token API): a human must look.
    logger.error({ alert: true, api, reason }, 'wechat access_token keeps being refused');
  };

  async function authed(api: string, req: WechatRequest): Promise<WechatJson> {
    let token = await tokens.get();
    try {
      return await http.call(api, withToken(req, token));
    } catch (err) {
      if (!(err instanceof WechatApiError) || !err.isTokenError) throw err;
      logger.warn({ api, errcode: err.errcode }, 'access_token refused; dropping it and fetching again');
      await tokens.invalidate(token);
      token = await tokens.refresh(token);
    }
    try {
      return await http.call(api, withToken(req, token));
    } catch (err) {
      if (!(err instanceof WechatApiError) || err.errcode !== 40001) throw err;
      const forced = await tokens.forceRefresh(token);
      if (!forced.ok) {
        alert(api, `force_refresh refused: ${forced.reason}`);
        throw err;
      }
      token = forced.token;
    }
    try {
      return await http.call(api, withToken(req, token));
    } catch (err) {
      if (err instanceof WechatApiError && err.isTokenError) alert(api, `errcode ${err.errcode} even after force_refresh`);
      throw err;
    }
  }

  const jsapiTickets = new JsapiTicketManager({
    store: opts.store, logger, clock: opts.clock, appId: wechat.appId,
    fetchTicket: () => authed(JSAPI_TICKET_API, { method: 'GET', query: { type: 'jsapi' } }),
  });

  return {
    getAccessToken: () => tokens.get(),
    getJsapiTicket: () => jsapiTickets.get(),

    async getUserInfo(openid: string): Promise<WechatUserInfo> {
      requireOpenid(openid);
      const body = await authed('cgi-bin/user/info', { method: 'GET', query: { openid, lang: 'zh_CN' } });
      return toUserInfo(body, openid);
    },

    async getUserInfoBatch(openids: string[]): Promise<WechatUserInfo[]> {
      openids.forEach(requireOpenid);
      if (!openids.length) return [];
      if (openids.length > USER_INFO_BATCH) throw new ValidationError('微信用户过多', `user/info/batchget takes at most ${USER_INFO_BATCH} openids, got ${openids.length}`);
      const body = await authed('cgi-bin/user/info/batchget', { method: 'POST', body: { user_list: openids.map((openid) => ({ openid, lang: 'zh_CN' })) } });
      const list = Array.isArray(body.user_info_list) ? (body.user_info_list as WechatJson[]) : [];
      return list.filter((u) => u && typeof u === 'object').map((u) => toUserInfo(u, ''));
    },

    async createMenu(menu: unknown): Promise<void> {
      await authed('cgi-bin/menu/create', { method: 'POST', body: menu });
    },

    async createQrCode(scene: string, qrOpts: { permanent?: boolean; expireSeconds?: number } = {}): Promise<QrCodeTicket> {
      const body = buildQrCodeRequest(scene, qrOpts);
      const answer = await authed('cgi-bin/qrcode/create', { method: 'POST', body });
      const ticket = String(answer.ticket ?? '');
      if (!ticket) throw new WechatApiError('cgi-bin/qrcode/create', TRANSPORT_ERRCODE, 'answer without ticket');
      return {
        ticket,
        expireSeconds: qrOpts.permanent ? undefined : Number(answer.expire_seconds ?? body.expire_seconds),
        url: String(answer.url ?? ''),
        imageUrl: `https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=${encodeURIComponent(ticket)}`,
      };
    },

    async sendCustomerServiceText(openid: string, text: string): Promise<void> {
      requireOpenid(openid);
      await authed('cgi-bin/message/custom/send', { method: 'POST', body: { touser: openid, msgtype: 'text', text: { content: text } } });
    },

    async sendTemplateMessage(message: TemplateMessage): Promise<{ msgid: string }> {
      requireOpenid(message.touser);
      const answer = await authed('cgi-bin/message/template/send', { method: 'POST', body: message });
      return { msgid: String(answer.msgid) };
    },

    async sendSubscribeMessage(message: SubscribeMessage): Promise<void> {
      requireOpenid(message.touser);
      await authed('cgi-bin/message/subscribe/bizsend', { method: 'POST', body: message });
    },

    async exchangeOAuthCode(code: string): Promise<OAuthIdentity> {
      const api = 'sns/oauth2/access_token';
      // A code from a query string is attacker-chosen: refuse junk locally, as WeChat would (40029), without a call.
      if (!/^[\w-]{1,128}$/.test(code)) throw new WechatApiError(api, 40029, 'invalid code (refused before calling WeChat)');
      const answer = await http.call(api, {
        method: 'GET',
        query: { appid: wechat.appId, secret: wechat.appSecret, code, grant_type: 'authorization_code' },
        secrets: [wechat.appSecret, code],
      });
      // The answer also carries the user's web access_token and refresh_token: snsapi_base needs neither, so they are dropped here.
      return {
        openid: String(answer.openid),
        unionid: typeof answer.unionid === 'string' ? answer.unionid : undefined,
        scope: String(answer.scope ?? ''),
        isSnapshotUser: Number(answer.is_snapshotuser) === 1,
      };
    },
  };
}

/** WeChat's limit for user/info/batchget. */
export const USER_INFO_BATCH = 100;

function requireOpenid(openid: string) {
  if (!/^[\w-]{1,64}$/.test(openid)) throw new ValidationError('微信用户无效', `not an openid: ${JSON.stringify(openid).slice(0, 80)}`);
}

/** Builds the qrcode/create body: string scenes only (they carry our source tags), temporary by default. */
export function buildQrCodeRequest(scene: string, opts: { permanent?: boolean; expireSeconds?: number } = {}): WechatJson & { expire_seconds?: number } {
  if (!SCENE_STR.test(scene)) throw new ValidationError('二维码场景值无效', 'scene_str must be 1-64 printable ASCII characters');
  const actionInfo = { scene: { scene_str: scene } };
  if (opts.permanent) return { action_name: 'QR_LIMIT_STR_SCENE', action_info: actionInfo };
  const expire = opts.expireSeconds ?? MAX_QR_EXPIRE_SECONDS;
  if (!Number.isInteger(expire) || expire < 60 || expire > MAX_QR_EXPIRE_SECONDS) {
    throw new ValidationError('二维码有效期无效', `expireSeconds must be an integer from 60 to ${MAX_QR_EXPIRE_SECONDS}`);
  }
  return { expire_seconds: expire, action_name: 'QR_STR_SCENE', action_info: actionInfo };
}

function toUserInfo(body: WechatJson, openid: string): WechatUserInfo {
  const info: WechatUserInfo = { subscribe: Number(body.subscribe) === 1 ? 1 : 0, openid: typeof body.openid === 'string' ? body.openid : openid };
  if (typeof body.unionid === 'string') info.unionid = body.unionid;
  if (body.subscribe_time !== undefined) info.subscribe_time = Number(body.subscribe_time);
  if (typeof body.subscribe_scene === 'string') info.subscribe_scene = body.subscribe_scene;
  if (typeof body.qr_scene_str === 'string' && body.qr_scene_str) info.qr_scene_str = body.qr_scene_str;
  return info;
}
