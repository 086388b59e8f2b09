import { createServer } from 'node:http';
import { type AddressInfo } from 'node:net';
import { type Counter } from 'prom-client';
import menuTemplate from '../../config/menu.json';
import { ValidationError } from '../../src/lib/errors';
import { createLogger } from '../../src/lib/logger';
import { TRANSPORT_ERRCODE, WechatApiError } from '../../src/providers/wechat-api/errors';
import { WechatHttp } from '../../src/providers/wechat-api/http';
import { renderMenu } from '../../src/providers/wechat-api/menu';
import { createSandboxWechatApiApp } from '../../src/providers/wechat-api/sandbox';
import { SandboxWechatState } from '../../src/providers/wechat-api/sandbox-state';
import { AccessTokenManager } from '../../src/providers/wechat-api/token';
import {
  backend, createTestBackend, type SandboxWechatServer, startInstance, startSandboxWechat, TEST_WECHAT, TestClock,
  type TestBackendHandle, type TestInstance,
} from '../helpers/harness';

let handle: TestBackendHandle;
let sandbox: SandboxWechatServer;
let instances: TestInstance[] = [];

async function instance(opts: { clock?: TestClock; apiBase?: string } = {}): Promise<TestInstance> {
  const inst = await startInstance(handle, { env: { ...TEST_WECHAT, WECHAT_API_BASE: opts.apiBase ?? sandbox.url }, clock: opts.clock, startJobs: false });
  instances.push(inst);
  return inst;
}

/** The token and its rate-limit keys live in the shared store, which outlives each test: start every test clean. */
async function clearTokenKeys(inst: TestInstance) {
  const key = `wechat:token:${TEST_WECHAT.WECHAT_APPID}`;
  await Promise.all([inst.deps.store.del(key), inst.deps.store.del(`${key}:force-gap`)]);
}

async function count(counter: Counter<string>, labels: Record<string, string>): Promise<number> {
  const { values } = await counter.get();
  return values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((sum, v) => sum + v.value, 0);
}

const follower = (openid = `o${Math.random().toString(36).slice(2, 14)}`) => {
  const user = sandbox.state.ensureUser(openid);
  sandbox.state.recordInteraction(openid, 'subscribe', 'poster-2024');
  return user;
};

async function rejection(promise: Promise<unknown>): Promise<WechatApiError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(WechatApiError);
  return err as WechatApiError;
}

beforeAll(async () => {
  handle = await createTestBackend();
});
afterAll(async () => {
  await handle.drop();
});
beforeEach(async () => {
  sandbox = await startSandboxWechat();
});
afterEach(async () => {
  if (instances[0]) await clearTokenKeys(instances[0]);
  await Promise.all(instances.map((i) => i.close()));
  instances = [];
  await sandbox.close();
});

describe('access_token', () => {
  test('When an instance starts, then no token is fetched; when two calls need one, then it is fetched once and reused', async () => {
    const app = await instance();
    expect(sandbox.state.tokenFetches()).toBe(0);
    const first = await app.deps.wechatApi.getAccessToken();
    const second = await app.deps.wechatApi.getAccessToken();
    expect(second).toBe(first);
    expect(sandbox.state.tokenFetches()).toBe(1);
    expect(await count(app.deps.metrics.tokenRefreshes, { result: 'ok' })).toBe(1);
  });

  test('When 50 concurrent calls spread across two instances on one backend need a token, then stable_token is fetched exactly once', async () => {
    // Embedded instances each keep their own in-memory store (nothing is shared between processes), so there
    // the 50 calls run on one instance; on MariaDB + Redis they alternate between two instances.
    const apps = backend === 'mysql' ? [await instance(), await instance()] : [await instance()];
    const user = follower();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => {
        const api = apps[i % apps.length].deps.wechatApi;
        return i % 2 === 0 ? api.getAccessToken() : api.getUserInfo(user.openid).then((info) => info.openid);
      }),
    );
    expect(sandbox.state.tokenFetches()).toBe(1);
    expect(new Set(results.filter((_, i) => i % 2 === 0)).size).toBe(1);
    expect(results.filter((_, i) => i % 2 === 1).every((openid) => openid === user.openid)).toBe(true);
  });

  test('When WeChat answers 40001 once, then the token is dropped, fetched again once and the call succeeds', async () => {
    const app = await instance();
    const user = follower();
    await app.deps.wechatApi.getAccessToken();
    sandbox.state.injectedErrors.set('cgi-bin/user/info', [40001]);
    const info = await app.deps.wechatApi.getUserInfo(user.openid);
    expect(info).toMatchObject({ subscribe: 1, openid: user.openid, unionid: user.unionid, qr_scene_str: 'poster-2024' });
    expect(sandbox.state.tokenFetches({ force: false })).toBe(2);
    expect(sandbox.state.tokenFetches({ force: true })).toBe(0);
    expect(sandbox.state.callsTo('cgi-bin/user/info')).toHaveLength(2);
  });

  test('When someone else revoked the token, then the next fetch gets a new one and the call succeeds', async () => {
    const app = await instance();
    const user = follower();
    const old = await app.deps.wechatApi.getAccessToken();
    sandbox.state.revokeAccessTokens();
    await app.deps.wechatApi.sendCustomerServiceText(user.openid, '您好');
    expect(await app.deps.wechatApi.getAccessToken()).not.toBe(old);
    expect(sandbox.state.tokenFetches()).toBe(2);
  });

  test('When the token expired at WeChat (42001), then a new one is fetched and the call succeeds', async () => {
    const app = await instance();
    const user = follower();
    const old = await app.deps.wechatApi.getAccessToken();
    sandbox.state.expireAccessTokens();
    await expect(app.deps.wechatApi.getUserInfo(user.openid)).resolves.toMatchObject({ subscribe: 1 });
    expect(await app.deps.wechatApi.getAccessToken()).not.toBe(old);
    expect(sandbox.state.tokenFetches()).toBe(2);
  });

  test('When 40001 persists, then one force_refresh is made and an alert raised; within 30 s no second force_refresh', async () => {
    const app = await instance();
    const user = follower();
    sandbox.state.injectedErrors.set('cgi-bin/user/info', [40001, 40001, 40001]);
    const err = await rejection(app.deps.wechatApi.getUserInfo(user.openid));
    expect(err.errcode).toBe(40001);
    expect(err.userMessage).toBe('微信接口暂时不可用，请稍后再试');
    expect(sandbox.state.tokenFetches({ force: true })).toBe(1);
    expect(sandbox.state.callsTo('cgi-bin/user/info')).toHaveLength(3);
    const metrics = app.deps.metrics.tokenRefreshes;
    expect(await count(metrics, { result: 'force_refresh' })).toBe(1);
    expect(await count(metrics, { result: 'alert' })).toBe(1);

    sandbox.state.injectedErrors.set('cgi-bin/user/info', [40001, 40001]);
    await rejection(app.deps.wechatApi.getUserInfo(user.openid));
    expect(sandbox.state.tokenFetches({ force: true })).toBe(1);
    expect(await count(metrics, { result: 'alert' })).toBe(2);
  });

  test('When an instance drops a failed token after another stored a fresh one, then the fresh one is kept', async () => {
    const app = await instance();
    const { store, metrics, clock } = app.deps;
    const logger = createLogger('silent');
    const http = new WechatHttp({ apiBase: sandbox.url, fetch, logger, metrics, timeoutMs: 5000 });
    const tokens = () => new AccessTokenManager({ http, store, logger, metrics, clock, appId: TEST_WECHAT.WECHAT_APPID, appSecret: TEST_WECHAT.WECHAT_APPSECRET });
    const [slow, fast] = [tokens(), tokens()];
    const failed = await slow.get();
    sandbox.state.revokeAccessTokens();
    const fresh = await fast.refresh(failed);
    await slow.invalidate(failed);
    expect(await slow.get()).toBe(fresh);
    expect(sandbox.state.tokenFetches()).toBe(2);
  });

  test('When less than 5 minutes are left, then the token is refreshed ahead and the old one still works meanwhile', async () => {
    const clock = new TestClock();
    const state = new SandboxWechatState(TEST_WECHAT.WECHAT_APPID, TEST_WECHAT.WECHAT_APPSECRET, () => clock.nowMs());
    const server = createServer(createSandboxWechatApiApp(state, createLogger('silent')).callback());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const app = await instance({ clock, apiBase: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
      const first = await app.deps.wechatApi.getAccessToken();
      clock.advance((7200 - 240) * 1000);
      const second = await app.deps.wechatApi.getAccessToken();
      expect(second).not.toBe(first);
      expect(state.checkAccessToken(first)).toBe(0);
      expect(state.tokenFetches()).toBe(2);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  test('When WeChat cannot be reached, then a typed error with a Chinese message comes back and the failure is counted', async () => {
    // A listener that hangs up on every connection: a closed port could be reused by another test's server.
    const hangUp = createServer();
    hangUp.on('connection', (socket) => socket.destroy());
    await new Promise<void>((r) => hangUp.listen(0, '127.0.0.1', r));
    try {
      const app = await instance({ apiBase: `http://127.0.0.1:${(hangUp.address() as AddressInfo).port}` });
      const err = await rejection(app.deps.wechatApi.getAccessToken());
      expect(err).toMatchObject({ errcode: TRANSPORT_ERRCODE, retryable: true, userMessage: '微信接口暂时不可用，请稍后再试' });
      expect(await count(app.deps.metrics.tokenRefreshes, { result: 'error' })).toBe(1);
    } finally {
      await new Promise((r) => hangUp.close(r));
    }
  });

  test('When calls are recorded and errors raised, then neither the token nor the secret appears in them', async () => {
    const app = await instance();
    const user = follower();
    const token = await app.deps.wechatApi.getAccessToken();
    sandbox.state.injectedErrors.set('cgi-bin/user/info', [45009]);
    const err = await rejection(app.deps.wechatApi.getUserInfo(user.openid));
    const seen = JSON.stringify([sandbox.state.calls, err.message, err.errmsg, err.detail]);
    expect(seen).not.toContain(token);
    expect(seen).not.toContain(TEST_WECHAT.WECHAT_APPSECRET);
  });
});

describe('API calls', () => {
  test('When the daily quota is used up (45009), then the call is not retried', async () => {
    const app = await instance();
    const user = follower();
    sandbox.state.injectedErrors.set('cgi-bin/user/info', [45009, 45009]);
    const err = await rejection(app.deps.wechatApi.getUserInfo(user.openid));
    expect(err).toMatchObject({ errcode: 45009, upstreamCode: 45009, api: 'cgi-bin/user/info', retryable: false });
    expect(err.userMessage).toContain('上限');
    expect(sandbox.state.callsTo('cgi-bin/user/info')).toHaveLength(1);
    expect(sandbox.state.injectedErrors.get('cgi-bin/user/info')).toEqual([45009]);

    sandbox.state.injectedErrors.clear();
    sandbox.state.dailyQuotas.set('cgi-bin/user/info', 1);
    await app.deps.wechatApi.getUserInfo(user.openid);
    expect((await rejection(app.deps.wechatApi.getUserInfo(user.openid))).errcode).toBe(45009);
  });

  test('When asked about a user who does not follow, then subscribe is 0; about an unknown openid, then 40003', async () => {
    const app = await instance();
    const stranger = sandbox.state.ensureUser('oStranger0001');
    await expect(app.deps.wechatApi.getUserInfo(stranger.openid)).resolves.toEqual({ subscribe: 0, openid: stranger.openid });
    expect((await rejection(app.deps.wechatApi.getUserInfo('oNobody'))).errcode).toBe(40003);
  });

  test('When a template message goes to a user who does not follow, then 43004 and nothing is delivered', async () => {
    const app = await instance();
    const stranger = sandbox.state.ensureUser('oStranger0002');
    const err = await rejection(app.deps.wechatApi.sendTemplateMessage({ touser: stranger.openid, template_id: 'tpl-renewed', data: { first: { value: '续期成功' } } }));
    expect(err).toMatchObject({ errcode: 43004, retryable: false });
    expect(sandbox.state.messagesTo(stranger.openid)).toHaveLength(0);
  });

  test('When a template message is sent twice with one client_msg_id, then it is delivered once and both answers carry the same exact msgid', async () => {
    const app = await instance();
    const user = follower();
    const message = { touser: user.openid, template_id: 'tpl-renewed', data: { first: { value: '续期成功' } }, client_msg_id: 'order-42-paid' };
    const first = await app.deps.wechatApi.sendTemplateMessage(message);
    const again = await app.deps.wechatApi.sendTemplateMessage(message);
    expect(first.msgid).toBe('3000000000000000001'); // above 2^53: a plain JSON.parse would round it
    expect(again.msgid).toBe(first.msgid);
    expect(sandbox.state.messagesTo(user.openid)).toHaveLength(1);
  });

  test('When a customer-service text is sent outside the user\'s window, then 45015; inside, it is delivered until the quota (45047)', async () => {
    const app = await instance();
    const user = follower();
    user.csWindow = undefined;
    expect((await rejection(app.deps.wechatApi.sendCustomerServiceText(user.openid, '您的证书已续期'))).errcode).toBe(45015);

    sandbox.state.recordInteraction(user.openid, 'click');
    for (let i = 0; i < 3; i++) await app.deps.wechatApi.sendCustomerServiceText(user.openid, `消息${i}`);
    expect((await rejection(app.deps.wechatApi.sendCustomerServiceText(user.openid, '第四条'))).errcode).toBe(45047);
    expect(sandbox.state.messagesTo(user.openid).map((m) => m.body)).toContainEqual({ touser: user.openid, msgtype: 'text', text: { content: '消息0' } });
  });

  test('When an OAuth code is exchanged, then it works once and the second time answers 40163; a made-up code answers 40029', async () => {
    const app = await instance();
    const user = follower();
    const code = sandbox.state.issueOAuthCode(user.openid);
    await expect(app.deps.wechatApi.exchangeOAuthCode(code)).resolves.toEqual({ openid: user.openid, unionid: user.unionid, scope: 'snsapi_base', isSnapshotUser: false });
    expect((await rejection(app.deps.wechatApi.exchangeOAuthCode(code))).errcode).toBe(40163);
    expect((await rejection(app.deps.wechatApi.exchangeOAuthCode('0123456789abcdef'))).errcode).toBe(40029);
    expect(sandbox.state.tokenFetches()).toBe(0); // the code exchange never needs the access_token
  });

  test('When the code comes from a Moments snapshot page, then the identity is flagged as a snapshot user', async () => {
    const app = await instance();
    const code = sandbox.state.issueOAuthCode('oSnapshotVirtual', { snapshot: true });
    await expect(app.deps.wechatApi.exchangeOAuthCode(code)).resolves.toMatchObject({ openid: 'oSnapshotVirtual', isSnapshotUser: true });
  });

  test('When QR codes are created, then temporary ones last 30 days by default and permanent ones have no expiry', async () => {
    const app = await instance();
    const temporary = await app.deps.wechatApi.createQrCode('poster-2024');
    expect(temporary.expireSeconds).toBe(2_592_000);
    expect(temporary.imageUrl).toBe(`https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=${encodeURIComponent(temporary.ticket)}`);
    expect(sandbox.state.qrTickets.get(temporary.ticket)).toMatchObject({ scene: 'poster-2024', permanent: false });
    const permanent = await app.deps.wechatApi.createQrCode('counter-desk', { permanent: true });
    expect(permanent.expireSeconds).toBeUndefined();
    expect(sandbox.state.qrTickets.get(permanent.ticket)).toMatchObject({ scene: 'counter-desk', permanent: true });
    await expect(app.deps.wechatApi.createQrCode('x'.repeat(65))).rejects.toBeInstanceOf(ValidationError);
    expect(sandbox.state.callsTo('cgi-bin/qrcode/create')).toHaveLength(2);
  });

  test('When the configured menu is published, then WeChat stores it; a menu over the limits is refused with 40016', async () => {
    const app = await instance();
    const menu = renderMenu(menuTemplate, { publicBaseUrl: 'https://ca.example.com' });
    await app.deps.wechatApi.createMenu(menu);
    expect(sandbox.state.menu).toEqual(menu);
    const tooMany = { button: Array.from({ length: 4 }, (_, i) => ({ type: 'click', name: `菜单${i}`, key: `k${i}` })) };
    expect((await rejection(app.deps.wechatApi.createMenu(tooMany))).errcode).toBe(40016);
  });
});
