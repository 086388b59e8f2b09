import Router from '@koa/router';
import type Koa from 'koa';
import { type Deps } from '../../deps';
import { readForm } from '../../lib/http/form';
import { ValidationError } from '../../lib/errors';
import { pagePolicy } from '../../lib/http/security-headers';
import { type RenderPage } from '../../lib/views';
import { type SandboxWechatState } from '../../providers/wechat-api/sandbox-state';

export const SANDBOX_AUTHORIZE_PATH = '/sandbox/wechat-oauth/authorize';
/** Set by /dev/wechat so this page can preselect the user the person is simulating. Not a credential. */
export const DEV_USER_COOKIE = 'cam_dev_user';

interface AuthorizeRequest {
  appid: string;
  redirectUri: string;
  state: string;
}

/**
 * Checks what WeChat checks before showing its authorize screen: our appid, snsapi_base, and a redirect_uri
 * on the registered domain (here: under PUBLIC_BASE_URL), so the sandbox cannot be used to send codes elsewhere.
 */
function parseRequest(deps: Deps, q: Record<string, unknown>): AuthorizeRequest {
  const appid = typeof q.appid === 'string' ? q.appid : '';
  const redirectUri = typeof q.redirect_uri === 'string' ? q.redirect_uri : '';
  const state = typeof q.state === 'string' ? q.state : '';
  if (appid !== deps.config.wechat.appId) throw new ValidationError('沙箱：appid 错误', 'sandbox authorize: appid does not match');
  if (q.scope !== undefined && q.scope !== 'snsapi_base') throw new ValidationError('沙箱：scope 参数错误（仅支持 snsapi_base）', 'sandbox authorize: unsupported scope');
  if (!/^[A-Za-z0-9]{0,128}$/.test(state)) throw new ValidationError('沙箱：state 参数错误', 'sandbox authorize: state is not [A-Za-z0-9]{0,128}');
  let target: URL;
  let base: URL;
  try {
    target = new URL(redirectUri);
    base = new URL(`${deps.config.publicBaseUrl}/`);
  } catch {
    throw new ValidationError('沙箱：redirect_uri 参数错误', 'sandbox authorize: redirect_uri is not a URL');
  }
  if (target.origin !== base.origin || !target.pathname.startsWith(base.pathname)) {
    throw new ValidationError('沙箱：redirect_uri 参数错误（须在 PUBLIC_BASE_URL 之下）', 'sandbox authorize: redirect_uri outside PUBLIC_BASE_URL');
  }
  return { appid, redirectUri, state };
}

function callbackWithCode(req: AuthorizeRequest, code: string): string {
  const url = new URL(req.redirectUri);
  url.searchParams.set('code', code);
  url.searchParams.set('state', req.state);
  return url.toString();
}

/** The sandbox's stand-in for WeChat's authorize screen: pick or create a test user, optionally as a snapshot user. */
export function createSandboxOAuthRoutes(deps: Deps, state: SandboxWechatState, render: RenderPage): Router {
  const router = new Router();

  const page = (ctx: Koa.Context, req: AuthorizeRequest, error?: string) => {
    const preferred = ctx.cookies.get(DEV_USER_COOKIE, { signed: false });
    const users = [...state.users.values()].map((u) => ({ openid: u.openid, nickname: u.nickname, subscribed: u.subscribed, preferred: u.openid === preferred }));
    users.sort((a, b) => Number(b.preferred) - Number(a.preferred));
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = render('sandbox/oauth-authorize.njk', { sandbox: true, title: '微信授权（沙箱）', req, users, error });
  };

  // The address carries the OAuth state: no Referer from it (as WeChat's own page).
  const noReferrer = pagePolicy({ noReferrer: true });
  router.get(SANDBOX_AUTHORIZE_PATH, noReferrer, (ctx) => page(ctx, parseRequest(deps, ctx.query)));

  router.post(SANDBOX_AUTHORIZE_PATH, noReferrer, async (ctx) => {
    const form = await readForm(ctx);
    const req = parseRequest(deps, form);
    const snapshot = form.snapshot === '1';
    let openid: string;
    // Each user is its own submit button (name=pick); any other submit creates a new user.
    if (form.pick) {
      const user = state.users.get(form.pick);
      if (!user) return page(ctx, req, '该测试用户不存在，请重新选择');
      openid = user.openid;
    } else {
      const nickname = (form.nickname ?? '').trim().slice(0, 20) || undefined;
      openid = state.ensureUser(undefined, nickname).openid;
    }
    const code = state.issueOAuthCode(openid, { snapshot });
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(callbackWithCode(req, code));
  });

  return router;
}
