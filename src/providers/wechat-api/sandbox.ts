import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import Koa from 'koa';
import getRawBody from 'raw-body';
import { type Logger } from '../../lib/logger';
import { jsSdkSignature } from './js-sdk';
import { validateMenu } from './menu';
import { type SandboxWechatState } from './sandbox-state';

/**
 * The sandbox WeChat API: the endpoints the real client uses, with WeChat's JSON shapes and errcodes, over
 * HTTP so the real client code (token cache, lock, retries, parsing) is what runs in the sandbox and in tests.
 * Errors answer HTTP 200 with {errcode, errmsg}, as WeChat does.
 */
const ERRMSG: Record<number, string> = {
  40001: 'invalid credential, access_token is invalid or not latest',
  40002: 'invalid grant_type',
  40003: 'invalid openid',
  40008: 'invalid message type',
  40013: 'invalid appid',
  40014: 'invalid access_token',
  40029: 'invalid code',
  40037: 'invalid template_id',
  40097: 'invalid args',
  40125: 'invalid appsecret',
  40163: 'code been used',
  41001: 'access_token missing',
  42001: 'access_token expired',
  43004: 'require subscribe',
  43101: 'user refuse to accept the msg',
  44004: 'empty content',
  45009: 'reach max api daily quota limit',
  45011: 'api minute-quota reach limit  mustslower  retry next minute',
  45015: 'response out of time limit or subscription is canceled',
  45047: 'out of response count limit',
  47001: 'data format error',
};

type Json = Record<string, unknown>;
class Refusal {
  constructor(readonly errcode: number, readonly detail?: string) {}
}
const refuse = (errcode: number, detail?: string): never => {
  throw new Refusal(errcode, detail);
};

interface Input {
  query: Record<string, string>;
  body: Json;
}

const CALL_LOG_LIMIT = 5000;
const SECRET_KEYS = new Set(['access_token', 'refresh_token', 'secret', 'code']);

/** What goes into state.calls: secrets replaced, so the /dev page and test output can show calls as they are. */
function redact(value: Json): Json {
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_KEYS.has(k) ? '[redacted]' : v]));
}

const str = (v: unknown) => (typeof v === 'string' ? v : '');

export function createSandboxWechatApiApp(state: SandboxWechatState, logger: Logger): Koa {
  const app = new Koa();
  const router = new Router();

  function endpoint(method: 'get' | 'post', api: string, auth: boolean, handler: (input: Input) => Json) {
    router[method](`/${api}`, async (ctx) => {
      const query = Object.fromEntries(Object.entries(ctx.query).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v ?? ''])) as Record<string, string>;
      let response: Json;
      let body: Json = {};
      try {
        if (method === 'post') {
          const raw = await getRawBody(ctx.req, { limit: '64kb', encoding: 'utf-8' });
          try {
            const parsed: unknown = JSON.parse(raw);
            body = parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Json) : refuse(47001);
          } catch (err) {
            if (err instanceof Refusal) throw err;
            refuse(47001, 'body is not JSON');
          }
        }
        const injected = state.takeInjectedError(api);
        if (injected !== undefined) refuse(injected, 'injected by a test');
        if (auth) {
          const tokenProblem = state.checkAccessToken(query.access_token);
          if (tokenProblem) refuse(tokenProblem);
        }
        if (!state.takeDailyQuota(api)) refuse(45009);
        response = { errcode: 0, errmsg: 'ok', ...handler({ query, body }) };
      } catch (err) {
        if (!(err instanceof Refusal)) throw err;
        response = { errcode: err.errcode, errmsg: `${ERRMSG[err.errcode] ?? 'system error'} rid: ${randomBytes(6).toString('hex')}` };
        logger.debug({ api, errcode: err.errcode, detail: err.detail }, 'sandbox wechat api refused a call');
      }
      state.calls.push({ at: state.nowMs(), api, request: { ...redact(query), ...redact(body) }, response: redact(response) });
      if (state.calls.length > CALL_LOG_LIMIT) state.calls.splice(0, state.calls.length - CALL_LOG_LIMIT);
      ctx.type = 'application/json';
      // msgid is written as a bare integer above 2^53, as WeChat does; JSON.stringify would need it as a number.
      ctx.body = JSON.stringify(response).replace(/"msgid":"(\d+)"/, '"msgid":$1');
    });
  }

  endpoint('post', 'cgi-bin/stable_token', false, ({ body }) => {
    if (body.grant_type !== 'client_credential') refuse(40002);
    if (body.appid !== state.appId) refuse(40013);
    if (body.secret !== state.appSecret) refuse(40125);
    const { token, expiresIn } = state.issueAccessToken(body.force_refresh === true);
    return { access_token: token, expires_in: expiresIn };
  });

  endpoint('get', 'cgi-bin/ticket/getticket', true, ({ query }) => {
    // type=wx_card is the other kind (卡券); only jsapi is used here.
    if (query.type !== 'jsapi') refuse(40097, 'type');
    const { ticket, expiresIn } = state.issueJsapiTicket();
    return { ticket, expires_in: expiresIn };
  });

  // Not a WeChat API: what WeChat's client does inside wx.config, for the sandbox's stand-in JS bridge
  // (views/h5/_wx-sandbox.njk). It recomputes the signature for the page's address with the tickets getticket
  // handed out, so a wrong URL, ticket or appId fails here as it would on a phone (config:invalid signature).
  router.post('/js-sdk/config', async (ctx) => {
    let body: Json = {};
    try {
      body = JSON.parse(await getRawBody(ctx.req, { limit: '8kb', encoding: 'utf-8' })) as Json;
    } catch {
      body = {};
    }
    const timestamp = Number(body.timestamp);
    const signed = state.liveJsapiTickets().some((jsapiTicket) => jsSdkSignature({ jsapiTicket, nonceStr: str(body.nonceStr), timestamp, url: str(body.url) }) === str(body.signature));
    const errMsg = body.appId !== state.appId ? 'config:invalid appid' : !signed ? 'config:invalid signature' : 'config:ok';
    state.calls.push({ at: state.nowMs(), api: 'js-sdk/config', request: { appId: body.appId, url: body.url, jsApiList: body.jsApiList }, response: { errMsg } });
    ctx.body = { errMsg };
  });

  const userOf = (openid: unknown) => state.users.get(str(openid)) ?? refuse(40003);

  const userInfoOf = (openid: unknown) => {
    const user = userOf(openid);
    // A user who does not follow is not an error: WeChat answers subscribe 0 and nothing else.
    if (!user.subscribed) return { subscribe: 0, openid: user.openid, tagid_list: [] };
    return {
      subscribe: 1,
      openid: user.openid,
      language: 'zh_CN',
      subscribe_time: user.subscribeTime ?? Math.floor(state.nowMs() / 1000),
      unionid: user.unionid,
      remark: '',
      groupid: 0,
      tagid_list: [],
      subscribe_scene: user.qrScene ? 'ADD_SCENE_QR_CODE' : 'ADD_SCENE_SEARCH',
      qr_scene: 0,
      qr_scene_str: user.qrScene ?? '',
    };
  };

  endpoint('get', 'cgi-bin/user/info', true, ({ query }) => userInfoOf(query.openid));

  // 批量获取用户基本信息: {"user_list": [{"openid": …, "lang": …}]}, at most 100; one unknown openid fails the call.
  endpoint('post', 'cgi-bin/user/info/batchget', true, ({ body }) => {
    const list = body.user_list;
    if (!Array.isArray(list) || list.length === 0 || list.length > 100) refuse(40097);
    return { user_info_list: (list as Array<{ openid?: unknown }>).map((u) => userInfoOf(u?.openid)) };
  });

  endpoint('post', 'cgi-bin/menu/create', true, ({ body }) => {
    const problem = validateMenu(body);
    if (problem) refuse(problem.errcode, problem.errmsg);
    state.menu = body;
    return {};
  });

  endpoint('post', 'cgi-bin/qrcode/create', true, ({ body }) => {
    const action = str(body.action_name);
    const info = body.action_info as { scene?: { scene_str?: unknown; scene_id?: unknown } } | undefined;
    const stringScene = action === 'QR_STR_SCENE' || action === 'QR_LIMIT_STR_SCENE';
    if (!stringScene && action !== 'QR_SCENE' && action !== 'QR_LIMIT_SCENE') refuse(40097, 'action_name');
    const scene = stringScene ? str(info?.scene?.scene_str) : String(info?.scene?.scene_id ?? '');
    if (stringScene ? scene.length < 1 || scene.length > 64 : !/^\d+$/.test(scene)) refuse(40097, 'scene');
    const permanent = action.startsWith('QR_LIMIT');
    // WeChat: 60 s when absent, never more than 30 days.
    const expireSeconds = permanent ? undefined : Math.min(Number(body.expire_seconds ?? 60) || 60, 2_592_000);
    const ticket = `gQ${randomBytes(45).toString('base64')}`;
    const url = `http://weixin.qq.com/q/${randomBytes(16).toString('base64url')}`;
    state.qrTickets.set(ticket, { scene, permanent, expiresAt: expireSeconds ? state.nowMs() + expireSeconds * 1000 : undefined });
    return expireSeconds ? { ticket, expire_seconds: expireSeconds, url } : { ticket, url };
  });

  endpoint('post', 'cgi-bin/message/custom/send', true, ({ body }) => {
    if (body.msgtype !== 'text') refuse(40008);
    const content = str((body.text as Json | undefined)?.content);
    if (!content) refuse(44004);
    const user = userOf(body.touser);
    if (!user.subscribed) refuse(43004);
    const window = user.csWindow;
    if (!window || window.until <= state.nowMs()) refuse(45015);
    if (window!.used >= window!.quota) refuse(45047);
    window!.used++;
    state.outbox.push({ at: state.nowMs(), openid: user.openid, kind: 'customer_service', body });
    return {};
  });

  endpoint('post', 'cgi-bin/message/template/send', true, ({ body }) => {
    if (!str(body.template_id)) refuse(40037);
    if (!body.data || typeof body.data !== 'object') refuse(47001, 'data');
    const user = userOf(body.touser);
    if (!user.subscribed) refuse(43004);
    const clientMsgId = str(body.client_msg_id) || undefined;
    const { msgid, duplicate } = state.templateMsgId(clientMsgId);
    if (!duplicate) state.outbox.push({ at: state.nowMs(), openid: user.openid, kind: 'template', body: { ...body, msgid } });
    return { msgid };
  });

  // 订阅通知: one send per acceptance (the simulator's popup grants them); the user need not follow.
  endpoint('post', 'cgi-bin/message/subscribe/bizsend', true, ({ body }) => {
    const templateId = str(body.template_id);
    if (!templateId) refuse(40037);
    if (!body.data || typeof body.data !== 'object') refuse(47001, 'data');
    const user = userOf(body.touser);
    if (!state.takeSubscribeGrant(user.openid, templateId)) refuse(43101);
    state.outbox.push({ at: state.nowMs(), openid: user.openid, kind: 'subscribe', body });
    return {};
  });

  endpoint('get', 'sns/oauth2/access_token', false, ({ query }) => {
    if (query.appid !== state.appId) refuse(40013);
    if (query.secret !== state.appSecret) refuse(40125);
    if (query.grant_type !== 'authorization_code') refuse(40002);
    const redeemed = state.redeemOAuthCode(str(query.code));
    if ('errcode' in redeemed) return refuse(redeemed.errcode);
    const user = state.users.get(redeemed.openid);
    return {
      access_token: randomBytes(32).toString('base64url'),
      expires_in: 7200,
      refresh_token: randomBytes(32).toString('base64url'),
      openid: redeemed.openid,
      scope: 'snsapi_base',
      ...(redeemed.snapshot ? { is_snapshotuser: 1 } : {}),
      ...(user?.subscribed && !redeemed.snapshot ? { unionid: user.unionid } : {}),
    };
  });

  app.use(router.routes()).use(router.allowedMethods());
  return app;
}
