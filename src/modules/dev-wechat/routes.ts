import Router from '@koa/router';
import type Koa from 'koa';
import { type Deps } from '../../deps';
import { readForm } from '../../lib/http/form';
import { ValidationError } from '../../lib/errors';
import { type RenderPage } from '../../lib/views';
import { type SandboxWechatState } from '../../providers/wechat-api/sandbox-state';
import { DEV_USER_COOKIE } from '../oauth/sandbox-authorize';
import { parseAction, WechatSimulator } from './service';

/**
 * /dev/wechat: a person plays WeChat against this very server (sandbox mode only; app.ts never mounts it in
 * production, and it refuses to build there too). Works without JavaScript (forms + redirects); with it,
 * actions post in the background and the conversation polls for later customer-service/template messages.
 */
export function devWechatRoutes(deps: Deps, state: SandboxWechatState, render: RenderPage): Router {
  const router = new Router();
  if (deps.config.isProduction) return router;
  const sim = new WechatSimulator(deps, state);

  const wantsJson = (ctx: Koa.Context) => ctx.accepts('html', 'json') === 'json';
  const rememberUser = (ctx: Koa.Context, openid: string) =>
    // Lets the sandbox OAuth page preselect the user being simulated; plain, unsigned, harmless.
    ctx.cookies.set(DEV_USER_COOKIE, openid, { signed: false, httpOnly: true, sameSite: 'lax', maxAge: 30 * 24 * 3600_000, overwrite: true });

  const userList = () => [...state.users.values()].map((u) => ({ openid: u.openid, nickname: u.nickname, subscribed: u.subscribed }));

  router.get('/dev/wechat', (ctx) => {
    const asked = typeof ctx.query.openid === 'string' ? ctx.query.openid : ctx.cookies.get(DEV_USER_COOKIE, { signed: false });
    const user = (asked && state.users.get(asked)) || undefined;
    if (user) rememberUser(ctx, user.openid);
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = render('dev/wechat.njk', {
      sandbox: true,
      title: '微信模拟器（沙箱）',
      users: userList(),
      user,
      entries: user ? sim.conversation(user.openid) : [],
      menu: sim.menu(),
      webhookMode: deps.config.wechat.encodingAesKey ? '安全模式（加密）' : '明文模式',
      publicBaseUrl: deps.config.publicBaseUrl,
      subscribeTemplateId: deps.config.reminders.subscribeTemplateId,
    });
  });

  router.post('/dev/wechat/users', async (ctx) => {
    const form = await readForm(ctx);
    const nickname = (form.nickname ?? '').trim().slice(0, 20) || undefined;
    const user = state.ensureUser(undefined, nickname);
    rememberUser(ctx, user.openid);
    if (wantsJson(ctx)) {
      ctx.body = { user: { openid: user.openid, nickname: user.nickname } };
      return;
    }
    ctx.status = 303;
    ctx.redirect(`/dev/wechat?openid=${encodeURIComponent(user.openid)}`);
  });

  router.post('/dev/wechat/send', async (ctx) => {
    const form = await readForm(ctx);
    const openid = form.openid ?? '';
    if (!state.users.has(openid)) throw new ValidationError('请先选择或新建测试用户', 'simulator: unknown sandbox user');
    const action = parseAction(form);
    await sim.send(openid, action);
    if (wantsJson(ctx)) {
      ctx.body = { entries: sim.conversation(openid), subscribed: state.users.get(openid)?.subscribed ?? false };
      return;
    }
    ctx.status = 303;
    // Without JavaScript a VIEW behaves like WeChat: after the event, the page opens (our own pages only).
    if (action.kind === 'view' && action.url.startsWith(`${deps.config.publicBaseUrl}/`)) return ctx.redirect(action.url);
    ctx.redirect(`/dev/wechat?openid=${encodeURIComponent(openid)}`);
  });

  // Every call this server made to the sandbox WeChat API, as the real WeChat's logs would show them.
  router.get('/dev/wechat/api-calls', (ctx) => {
    const shanghai = new Intl.DateTimeFormat('zh-CN', { timeZone: 'Asia/Shanghai', dateStyle: 'short', timeStyle: 'medium' });
    const calls = state.calls.slice(-100).reverse().map((c) => ({
      api: c.api,
      at: shanghai.format(new Date(c.at)),
      errcode: Number((c.response as { errcode?: number } | undefined)?.errcode ?? 0) || 0,
      request: JSON.stringify(c.request),
      response: JSON.stringify(c.response),
    }));
    ctx.set('Cache-Control', 'no-store');
    if (wantsJson(ctx)) {
      ctx.body = { calls };
      return;
    }
    ctx.type = 'html';
    ctx.body = render('dev/api-calls.njk', { sandbox: true, title: '沙箱微信接口调用记录', calls });
  });

  router.get('/dev/wechat/conversation', (ctx) => {
    const openid = typeof ctx.query.openid === 'string' ? ctx.query.openid : '';
    const user = state.users.get(openid);
    if (!user) throw new ValidationError('测试用户不存在', 'simulator: unknown sandbox user');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { entries: sim.conversation(openid), subscribed: user.subscribed };
  });

  return router;
}
