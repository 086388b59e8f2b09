import { jsSdkConfig } from '../../src/providers/wechat-api/js-sdk';
import {
  backend, createTestBackend, type SandboxWechatServer, startInstance, startSandboxWechat, TEST_WECHAT, TestClock,
  type TestBackendHandle, type TestInstance,
} from '../helpers/harness';

/**
 * The JS-SDK's jsapi_ticket, fetched with the access_token from the sandbox WeChat over HTTP and kept in the shared
 * store like the token (Redis with MariaDB, in-process on the embedded default); and the wx.config signature made
 * with it, checked by the sandbox the way WeChat's client checks it.
 */
const TICKET_API = 'cgi-bin/ticket/getticket';
let handle: TestBackendHandle;
let sandbox: SandboxWechatServer;
let instances: TestInstance[] = [];

async function instance(clock?: TestClock): Promise<TestInstance> {
  const inst = await startInstance(handle, { env: { ...TEST_WECHAT, WECHAT_API_BASE: sandbox.url }, clock, startJobs: false });
  instances.push(inst);
  return inst;
}

async function wxConfig(body: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${sandbox.url}/js-sdk/config`, { method: 'POST', body: JSON.stringify(body) });
  return ((await res.json()) as { errMsg: string }).errMsg;
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
  const store = instances[0]?.deps.store;
  if (store) await Promise.all([store.del(`wechat:jsapi-ticket:${TEST_WECHAT.WECHAT_APPID}`), store.del(`wechat:token:${TEST_WECHAT.WECHAT_APPID}`)]);
  await Promise.all(instances.map((i) => i.close()));
  instances = [];
  await sandbox.close();
});

describe('jsapi_ticket', () => {
  test('When 40 page views on every instance of one backend need the ticket at once, then getticket is called once and all get the same ticket', async () => {
    // Embedded instances keep their store in-process, so there the views all run on one instance.
    const apps = backend === 'mysql' ? [await instance(), await instance()] : [await instance()];
    const tickets = await Promise.all(Array.from({ length: 40 }, (_, i) => apps[i % apps.length].deps.wechatApi.getJsapiTicket()));
    expect(new Set(tickets).size).toBe(1);
    expect(sandbox.state.callsTo(TICKET_API)).toHaveLength(1);
    expect((sandbox.state.callsTo(TICKET_API)[0].request as Record<string, string>).type).toBe('jsapi');
    // Fetched with the access_token, which is itself fetched once.
    expect(sandbox.state.tokenFetches()).toBe(1);
  });

  test('When the cached ticket has less than 5 minutes left, then one instance fetches again; before that, none does', async () => {
    const clock = new TestClock();
    const app = await instance(clock);
    await app.deps.wechatApi.getJsapiTicket();
    clock.advance(7200_000 - 6 * 60_000);
    await app.deps.wechatApi.getJsapiTicket();
    expect(sandbox.state.callsTo(TICKET_API)).toHaveLength(1);
    clock.advance(2 * 60_000);
    await Promise.all([app.deps.wechatApi.getJsapiTicket(), app.deps.wechatApi.getJsapiTicket()]);
    expect(sandbox.state.callsTo(TICKET_API)).toHaveLength(2);
  });

  test('When getticket refuses the access_token (40001), then the token is fetched again and the ticket still comes back', async () => {
    const app = await instance();
    sandbox.state.injectedErrors.set(TICKET_API, [40001]);
    await expect(app.deps.wechatApi.getJsapiTicket()).resolves.toMatch(/^sandbox_/);
    expect(sandbox.state.tokenFetches()).toBe(2);
  });

  test('When a page signs wx.config with the ticket, then the sandbox WeChat accepts it for that address only', async () => {
    const app = await instance();
    const url = 'https://ca.example.cn/h5/invoices/new?orders=R1';
    const config = jsSdkConfig({ appId: TEST_WECHAT.WECHAT_APPID, jsapiTicket: await app.deps.wechatApi.getJsapiTicket(), url, nowMs: Date.now(), random: app.deps.random });
    expect(await wxConfig({ ...config, url: `${url}#top` })).toBe('config:ok');
    expect(await wxConfig({ ...config, url: 'https://ca.example.cn/h5/invoices/new' })).toBe('config:invalid signature');
    expect(await wxConfig({ ...config, appId: 'wxother', url })).toBe('config:invalid appid');
  });
});
