import Router from '@koa/router';
import request from 'supertest';
import { requireRealUser, requireWechatUser, wechatUserOf } from '../../src/modules/oauth/middleware';
import { OAuthService, safeTarget } from '../../src/modules/oauth/service';
import { RedisStore } from '../../src/lib/store/redis';
import { TEST_WECHAT, TestClock } from '../helpers/harness';
import { type ListeningInstance, startListening } from '../helpers/listening';
import { useTestApp } from '../helpers/use-test-app';

/**
 * WeChat OAuth (snsapi_base) as WeChat runs it: the test plays WeChat's part — it reads the authorize redirect,
 * issues a code in the sandbox WeChat for a user, and calls our callback with that code and the state.
 */
const MP_VERIFY = 'Xk7Qp2Lm9Za4';
const BASE = 'http://cam.test';

const clock = new TestClock();
// TRUST_PROXY: the flood tests give each request its own address; a login lasts one hour here so the clock can pass it
// without reaching the store's 7-day session TTL.
const t = useTestApp({ wechat: true, env: { PUBLIC_BASE_URL: BASE, WECHAT_MP_VERIFY_CODE: MP_VERIFY, TRUST_PROXY: 'true', SESSION_ABSOLUTE_HOURS: '1' }, clock, startJobs: false });

/** Session keys in the store (Redis, or the in-process map of the embedded default). */
async function sessionKeyCount(): Promise<number> {
  const store = t.instance.deps.store;
  if (store instanceof RedisStore) return (await store.client.keys(`${t.instance.config.cache.prefix}sess:*`)).length;
  return [...(store as unknown as { entries: Map<string, unknown> }).entries.keys()].filter((k) => k.includes('sess:')).length;
}

type Agent = ReturnType<typeof request.agent>;

function authorizeRedirect(res: request.Response): URL {
  expect(res.status).toBe(302);
  return new URL(res.headers.location);
}

/** Opens `path` without a session and returns the authorize URL WeChat would be sent to. */
async function startLogin(agent: Agent, path: string): Promise<URL> {
  return authorizeRedirect(await agent.get(path));
}

/** What WeChat does after the user consents: back to redirect_uri with a one-time code and the same state. */
function callbackPath(authorize: URL, code: string): string {
  const redirect = new URL(authorize.searchParams.get('redirect_uri')!);
  return `${redirect.pathname}?code=${encodeURIComponent(code)}&state=${encodeURIComponent(authorize.searchParams.get('state')!)}`;
}

async function login(agent: Agent, path: string, openid: string, opts: { snapshot?: boolean } = {}): Promise<request.Response> {
  const authorize = await startLogin(agent, path);
  return agent.get(callbackPath(authorize, t.sandbox.state.issueOAuthCode(openid, opts)));
}

const newAgent = () => request.agent(t.instance.app.callback());

// Runs after useTestApp's beforeAll (hooks run in the order they are registered): the instance is up.
beforeAll(async () => {
  // An action route behind both guards, as the bind/pay/invoice slices will mount them.
  const actions = new Router();
  actions.post('/h5/test-action', requireWechatUser(new OAuthService(t.instance.deps)), requireRealUser(), (ctx) => {
    ctx.body = { ok: true, openid: wechatUserOf(ctx).openid };
  });
  t.instance.app.use(actions.routes());
});

describe('OAuth (snsapi_base) for /h5/ pages', () => {
  it('When an H5 page is opened without a session, then the browser is sent to WeChat authorize with snsapi_base, our callback and a state', async () => {
    const authorize = await startLogin(newAgent(), '/h5/certs');
    expect(`${authorize.origin}${authorize.pathname}`).toBe('https://open.weixin.qq.com/connect/oauth2/authorize');
    expect(authorize.hash).toBe('#wechat_redirect');
    expect(authorize.searchParams.get('appid')).toBe(TEST_WECHAT.WECHAT_APPID);
    expect(authorize.searchParams.get('response_type')).toBe('code');
    expect(authorize.searchParams.get('scope')).toBe('snsapi_base');
    expect(authorize.searchParams.get('redirect_uri')).toBe(`${BASE}/oauth/callback`);
    expect(authorize.searchParams.get('state')).toMatch(/^[A-Za-z0-9]{32}$/);
  });

  it('When WeChat returns with a valid code and the state, then the user lands on the page first asked for, with a new session id', async () => {
    const agent = newAgent();
    const first = await agent.get('/h5/certs');
    const cookieBefore = String(first.headers['set-cookie']).match(/cam\.sid=([^;]+)/)?.[1];
    const openid = t.sandbox.state.ensureUser().openid;
    const authorize = authorizeRedirect(first);
    const back = await agent.get(callbackPath(authorize, t.sandbox.state.issueOAuthCode(openid)));
    expect(back.status).toBe(302);
    expect(back.headers.location).toBe('/h5/certs');
    const cookieAfter = String(back.headers['set-cookie']).match(/cam\.sid=([^;]+)/)?.[1];
    expect(cookieAfter).toBeTruthy();
    expect(cookieAfter).not.toBe(cookieBefore);

    const page = await agent.get('/h5/certs');
    expect(page.status).toBe(200);
    expect(page.text).toContain('<title>我的数字证书 - 数安CA管家</title>');
    expect(page.headers['cache-control']).toBe('no-store');
  });

  it('When the state does not match the session, then the callback is refused with a Chinese error page and no login', async () => {
    const agent = newAgent();
    const authorize = await startLogin(agent, '/h5/');
    const code = t.sandbox.state.issueOAuthCode(t.sandbox.state.ensureUser().openid);
    const res = await agent.get(`/oauth/callback?code=${code}&state=ForgedState${'x'.repeat(21)}`).set('Accept', 'text/html');
    expect(res.status).toBe(403);
    expect(res.text).toContain('登录校验失败');
    expect(res.text).toContain('返回首页');
    // Another browser (no session) presenting a real state is refused too.
    const stranger = await newAgent().get(callbackPath(authorize, code));
    expect(stranger.status).toBe(403);
    expect((await agent.get('/h5/')).status).toBe(302);
  });

  it('When a spent state comes back in the browser that logged in with it (Back, then the user picked again), then it continues to the page without a new exchange', async () => {
    const agent = newAgent();
    const openid = t.sandbox.state.ensureUser().openid;
    const authorize = await startLogin(agent, '/h5/certs');
    expect((await agent.get(callbackPath(authorize, t.sandbox.state.issueOAuthCode(openid)))).status).toBe(302);
    const secondCode = t.sandbox.state.issueOAuthCode(openid);
    const replay = await agent.get(callbackPath(authorize, secondCode));
    expect(replay.status).toBe(302);
    expect(replay.headers.location).toBe('/h5/certs');
    expect(t.sandbox.state.redeemOAuthCode(secondCode)).toMatchObject({ openid }); // never exchanged by us
    expect((await agent.get('/h5/certs')).status).toBe(200);
  });

  it('When a spent state comes back in a browser without that login, then it is refused (single use)', async () => {
    const agent = newAgent();
    const openid = t.sandbox.state.ensureUser().openid;
    const authorize = await startLogin(agent, '/h5/');
    const back = await agent.get(callbackPath(authorize, t.sandbox.state.issueOAuthCode(openid)));
    expect(back.status).toBe(302);
    // Another browser carrying this one's OAuth cookie (the state marked spent) but not its session.
    const spentCookies = String(back.headers['set-cookie']).match(/cam\.oauth(\.sig)?=[^;,]+/g)!.join('; ');
    const again = await newAgent().get(callbackPath(authorize, t.sandbox.state.issueOAuthCode(openid))).set('Cookie', spentCookies);
    expect(again.status).toBe(403);
  });

  it('When WeChat says the code was already used (40163), then the user is quietly sent to authorize again, at most twice, then shown an error', async () => {
    const agent = newAgent();
    const openid = t.sandbox.state.ensureUser().openid;
    let authorize = await startLogin(agent, '/h5/renew');
    for (let retry = 1; retry <= 2; retry++) {
      const code = t.sandbox.state.issueOAuthCode(openid);
      t.sandbox.state.redeemOAuthCode(code); // already exchanged once (back button, a replayed redirect)
      const res = await agent.get(callbackPath(authorize, code));
      const again = authorizeRedirect(res);
      expect(again.hostname).toBe('open.weixin.qq.com');
      expect(again.searchParams.get('state')).not.toBe(authorize.searchParams.get('state'));
      authorize = again;
    }
    const code = t.sandbox.state.issueOAuthCode(openid);
    t.sandbox.state.redeemOAuthCode(code);
    const gaveUp = await agent.get(callbackPath(authorize, code)).set('Accept', 'text/html');
    expect(gaveUp.status).toBe(502);
    expect(gaveUp.text).toContain('授权已失效');
  });

  it('When the code is invalid (40029), then a fresh authorize follows and a good code still lands on the original page', async () => {
    const agent = newAgent();
    const authorize = await startLogin(agent, '/h5/invoices');
    const again = authorizeRedirect(await agent.get(callbackPath(authorize, 'nosuchcode0123456789')));
    const res = await agent.get(callbackPath(again, t.sandbox.state.issueOAuthCode(t.sandbox.state.ensureUser().openid)));
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/h5/invoices');
  });

  it('When a snapshot (朋友圈快照) user logs in, then pages show a notice and actions are refused by the guard', async () => {
    const agent = newAgent();
    await login(agent, '/h5/', `o_snapshot_${Date.now()}`, { snapshot: true });
    const home = await agent.get('/h5/');
    expect(home.status).toBe(200);
    expect(home.text).toContain('朋友圈快照页');
    const action = await agent.post('/h5/test-action').set('Accept', 'application/json');
    expect(action.status).toBe(403);
    expect(action.body.error.message).toBe('请在微信中打开公众号后操作');
  });

  it('When a real user logs in, then the same action passes both guards', async () => {
    const agent = newAgent();
    const openid = t.sandbox.state.ensureUser().openid;
    await login(agent, '/h5/', openid);
    const action = await agent.post('/h5/test-action').set('Accept', 'application/json');
    expect(action.status).toBe(200);
    expect(action.body).toEqual({ ok: true, openid });
  });

  it('When an action is posted without a session, then it is refused with 401 instead of a redirect', async () => {
    const res = await newAgent().post('/h5/test-action').set('Accept', 'application/json');
    expect(res.status).toBe(401);
  });

  it.each(['https://evil.example/h5/', '//evil.example/h5/', '/\\evil.example/h5/', '/h5/../admin', '/capc/', 'javascript:alert(1)'])(
    'When login is asked to return to %s, then the user lands on /h5/ instead (no open redirect)',
    async (next) => {
      const agent = newAgent();
      const authorize = authorizeRedirect(await agent.get(`/oauth/login?next=${encodeURIComponent(next)}`));
      const res = await agent.get(callbackPath(authorize, t.sandbox.state.issueOAuthCode(t.sandbox.state.ensureUser().openid)));
      expect(res.status).toBe(302);
      expect(res.headers.location).toBe('/h5/');
    },
  );

  it('When login is asked to return to a page under /h5/ with a query, then it returns there', async () => {
    expect(safeTarget('/h5/certs?tab=valid')).toBe('/h5/certs?tab=valid');
    const agent = newAgent();
    const authorize = authorizeRedirect(await agent.get('/oauth/login?next=%2Fh5%2Finvoices%3Ftab%3Dhistory'));
    const res = await agent.get(callbackPath(authorize, t.sandbox.state.issueOAuthCode(t.sandbox.state.ensureUser().openid)));
    expect(res.headers.location).toBe('/h5/invoices?tab=history');
  });

  it('When WeChat fetches the MP_verify file, then it gets the configured code; other names are 404', async () => {
    const ok = await newAgent().get(`/MP_verify_${MP_VERIFY}.txt`);
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toMatch(/^text\/plain/);
    expect(ok.text).toBe(MP_VERIFY);
    expect((await newAgent().get('/MP_verify_somethingelse.txt')).status).toBe(404);
  });
});

describe('OAuth and the session store', () => {
  it('When 500 cookie-less GETs arrive on /h5/ pages, then each is sent to WeChat and not one session is stored', async () => {
    const before = await sessionKeyCount();
    const paths = ['/h5/', '/h5/certs', '/h5/bind?t=x', '/h5/renew', '/h5/orders'];
    for (let batch = 0; batch < 10; batch++) {
      const res = await Promise.all(Array.from({ length: 50 }, (_, i) => request(t.instance.app.callback()).get(paths[i % paths.length]).set('X-Forwarded-For', `10.9.${batch}.${i}`)));
      for (const r of res) {
        expect(r.status).toBe(302);
        expect(String(r.headers['set-cookie'])).not.toContain('cam.sid');
      }
    }
    expect(await sessionKeyCount()).toBe(before);
    // The journey still works, and the session appears only with the login.
    const agent = newAgent();
    await login(agent, '/h5/', t.sandbox.state.ensureUser().openid);
    expect(await sessionKeyCount()).toBe(before + 1);
  });

  it('When one address starts more than 300 logins in 10 minutes, then the rest are refused with 429', async () => {
    const statuses = [];
    for (let i = 0; i < 301; i++) statuses.push((await request(t.instance.app.callback()).get('/h5/').set('X-Forwarded-For', '10.8.0.1')).status);
    expect(statuses.filter((s) => s === 302)).toHaveLength(300);
    expect(statuses[300]).toBe(429);
    expect((await request(t.instance.app.callback()).get('/h5/').set('X-Forwarded-For', '10.8.0.2')).status).toBe(302);
  });

  it('When a login is older than its absolute lifetime, then even an active session goes through WeChat again', async () => {
    const agent = newAgent();
    const openid = t.sandbox.state.ensureUser().openid;
    await login(agent, '/h5/', openid);
    clock.advance(30 * 60_000);
    expect((await agent.get('/h5/certs')).status).toBe(200);
    clock.advance(31 * 60_000);
    const expired = await agent.get('/h5/certs');
    expect(authorizeRedirect(expired).hostname).toBe('open.weixin.qq.com');
    expect((await agent.post('/h5/test-action').set('Accept', 'application/json')).status).toBe(401);
    const back = await login(agent, '/h5/certs', openid);
    expect(back.headers.location).toBe('/h5/certs');
    expect((await agent.get('/h5/certs')).status).toBe(200);
  });
});

describe('Sandbox WeChat authorize page', () => {
  let app: ListeningInstance;
  beforeAll(async () => {
    app = await startListening(t.handle);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('When a newcomer opens /h5/ in sandbox mode, then the sandbox authorize page creates a user and logs them in', async () => {
    const agent = request.agent(app.server);
    const authorize = authorizeRedirect(await agent.get('/h5/'));
    expect(authorize.toString().startsWith(`${app.url}/sandbox/wechat-oauth/authorize?`)).toBe(true);
    const page = await agent.get(`${authorize.pathname}${authorize.search}`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('沙箱');
    const form = new URLSearchParams({
      appid: authorize.searchParams.get('appid')!, redirect_uri: authorize.searchParams.get('redirect_uri')!,
      state: authorize.searchParams.get('state')!, nickname: '张经办',
    });
    const chosen = await agent.post(authorize.pathname).type('form').send(form.toString());
    expect(chosen.status).toBe(302);
    const back = new URL(chosen.headers.location);
    expect(back.pathname).toBe('/oauth/callback');
    const landed = await agent.get(`${back.pathname}${back.search}`);
    expect(landed.headers.location).toBe('/h5/');
    const home = await agent.get('/h5/');
    expect(home.text).toContain('绑定证书');
    expect([...app.deps.sandboxWechat!.users.values()].some((u) => u.nickname === '张经办')).toBe(true);
  });

  it('When the redirect_uri is outside PUBLIC_BASE_URL, then the sandbox refuses to issue a code there', async () => {
    const query = new URLSearchParams({ appid: app.config.wechat.appId, redirect_uri: 'http://evil.example/oauth/callback', response_type: 'code', scope: 'snsapi_base', state: 'abc' });
    const res = await request(app.server).get(`/sandbox/wechat-oauth/authorize?${query}`).set('Accept', 'text/html');
    expect(res.status).toBe(400);
    expect(res.text).toContain('redirect_uri');
  });
});
