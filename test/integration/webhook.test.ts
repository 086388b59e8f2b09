import Koa from 'koa';
import request from 'supertest';
import { FollowerEntity } from '../../src/modules/followers/entities';
import { DEFERRED_REPLY_JOB, dedupeKey, webhookRoutes } from '../../src/modules/wechat-webhook/routes';
import { WebhookService } from '../../src/modules/wechat-webhook/service';
import { parseWechatXml } from '../../src/modules/wechat-webhook/xml';
import { backend, createTestBackend, startInstance, startSandboxWechat, TEST_WECHAT, type SandboxWechatServer, type TestBackendHandle, type TestInstance } from '../helpers/harness';
import { jobsEnded, untilJobsEnded } from '../helpers/jobs';
import { eventXml, replyText, sendToWebhook, textXml, uniqueOpenid } from '../helpers/webhook';
import { sha1Signature } from '../../src/modules/wechat-webhook/crypto';

let sandbox: SandboxWechatServer;
let handle: TestBackendHandle;
let a: TestInstance;

beforeAll(async () => {
  sandbox = await startSandboxWechat();
  handle = await createTestBackend();
  a = await startInstance(handle, { env: { ...TEST_WECHAT, WECHAT_API_BASE: sandbox.url } });
});
afterAll(async () => {
  await a?.close();
  await handle?.drop();
  await sandbox?.close();
});

/** How many requests the given instances acted on (not acknowledged as duplicates): the measure of "acted on once". */
async function handledBy(...instances: TestInstance[]): Promise<number> {
  let total = 0;
  for (const i of instances) total += (await i.deps.metrics.webhookOutcomes.get()).values.filter((v) => v.labels.outcome === 'handled').reduce((n, v) => n + v.value, 0);
  return total;
}
const followerOf = (openid: string) => a.deps.db.manager.findOne(FollowerEntity, { where: { openid } });

describe(`WeChat webhook end to end (${backend})`, () => {
  it('When a user follows through a parametric QR code, then the follower and scene are recorded and the welcome text is the encrypted reply', async () => {
    const openid = uniqueOpenid();
    const { res } = await sendToWebhook(a.app, eventXml(openid, 'subscribe', { EventKey: 'qrscene_expo2026' }));
    expect(res.status).toBe(200);
    const reply = parseWechatXml(replyText(res.text));
    expect(reply).toMatchObject({ ToUserName: openid, FromUserName: 'gh_test', MsgType: 'text' });
    expect(String(reply.Content)).toContain('客户服务');
    expect(String(reply.Content)).toContain('数安CA管家');
    expect(Number(reply.CreateTime)).toBeLessThan(10_000_000_000); // seconds, not milliseconds
    expect(await followerOf(openid)).toMatchObject({ subscribed: true, firstScene: 'expo2026', lastScene: 'expo2026', sandbox: false });
  });

  it('When WeChat retries the same event with a new nonce, then it is answered success and acted on once', async () => {
    const openid = uniqueOpenid();
    const xml = eventXml(openid, 'subscribe', { EventKey: '' });
    const before = await handledBy(a);
    const first = await sendToWebhook(a.app, xml);
    const retry = await sendToWebhook(a.app, xml);
    expect(first.res.text).not.toBe('success');
    expect(retry.res.text).toBe('success');
    expect((await handledBy(a)) - before).toBe(1);
  });

  it('When the exact same signed request is replayed, then it is answered success and not processed again', async () => {
    const openid = uniqueOpenid();
    const before = await handledBy(a);
    const { req } = await sendToWebhook(a.app, eventXml(openid, 'SCAN', { EventKey: 'desk' }));
    const replay = await request(a.app.callback()).post(req.path).type('text/xml').send(req.body);
    expect(replay.text).toBe('success');
    expect((await handledBy(a)) - before).toBe(1);
    expect(await followerOf(openid)).toMatchObject({ lastScene: 'desk' });
  });

  it('When two text messages share a MsgId but come from different users, then both are answered', async () => {
    const msgId = '24683756234500195329';
    const r1 = await sendToWebhook(a.app, textXml(uniqueOpenid(), '你好', msgId));
    const r2 = await sendToWebhook(a.app, textXml(uniqueOpenid(), '你好', msgId));
    expect(replyText(r1.res.text)).toContain('关键词');
    expect(replyText(r2.res.text)).toContain('关键词');
  });

  it('When two template-finish events for one user arrive in the same second, then both are acted on (MsgID tells them apart)', async () => {
    const openid = uniqueOpenid();
    const second = Math.floor(Date.now() / 1000);
    const before = await handledBy(a);
    const first = await sendToWebhook(a.app, eventXml(openid, 'TEMPLATESENDJOBFINISH', { MsgID: '3000000000000000001', Status: 'success' }, second));
    const other = await sendToWebhook(a.app, eventXml(openid, 'TEMPLATESENDJOBFINISH', { MsgID: '3000000000000000002', Status: 'failed:user block' }, second));
    expect([first.res.text, other.res.text]).toEqual(['success', 'success']);
    expect((await handledBy(a)) - before).toBe(2);
  });

  it('When a template-finish report arrives, then it is recorded and acknowledged without a claim in the store', async () => {
    const openid = uniqueOpenid();
    const xml = eventXml(openid, 'TEMPLATESENDJOBFINISH', { MsgID: '3000000000000000003', Status: 'success' });
    const { res } = await sendToWebhook(a.app, xml);
    expect(res.text).toBe('success');
    expect(await a.deps.store.get(dedupeKey({ xml: parseWechatXml(xml), openid, type: 'event:templatesendjobfinish' }))).toBeNull();
  });

  it('When a message claims the type "constructor", then it is acknowledged like any unknown type', async () => {
    const { res } = await sendToWebhook(a.app, textXml(uniqueOpenid(), 'x').replace('<MsgType><![CDATA[text]]></MsgType>', '<MsgType><![CDATA[constructor]]></MsgType>'));
    expect(res.status).toBe(200);
    expect(res.text).toBe('success');
  });

  it('When a user unfollows and scans later, then the follower row tracks it and unfollow gets success', async () => {
    const openid = uniqueOpenid();
    await sendToWebhook(a.app, eventXml(openid, 'subscribe', { EventKey: 'qrscene_a' }));
    const unsub = await sendToWebhook(a.app, eventXml(openid, 'unsubscribe', {}, Math.floor(Date.now() / 1000) + 1));
    expect(unsub.res.text).toBe('success');
    expect(await followerOf(openid)).toMatchObject({ subscribed: false, firstScene: 'a' });
    await sendToWebhook(a.app, eventXml(openid, 'SCAN', { EventKey: 'b' }, Math.floor(Date.now() / 1000) + 2));
    expect(await followerOf(openid)).toMatchObject({ subscribed: true, firstScene: 'a', lastScene: 'b' });
  });

  it.each([
    ['续期', '续期缴费'],
    ['请问怎么开发票', '电子发票'],
    ['绑定', '绑定码'],
    ['人工', '客服'],
    ['随便说点什么', '关键词'],
  ])('When the user types "%s", then the reply mentions "%s"', async (content, expected) => {
    const { res } = await sendToWebhook(a.app, textXml(uniqueOpenid(), content));
    expect(replyText(res.text)).toContain(expected);
  });

  it('When an unhandled message type (image) or a VIEW arrives, then the answer is success, never an empty text', async () => {
    const openid = uniqueOpenid();
    const image = await sendToWebhook(a.app, textXml(openid, 'x').replace('<MsgType><![CDATA[text]]></MsgType>', '<MsgType><![CDATA[image]]></MsgType>'));
    const view = await sendToWebhook(a.app, eventXml(openid, 'VIEW', { EventKey: 'https://example.invalid/h5/' }));
    expect([image.res.text, view.res.text]).toEqual(['success', 'success']);
  });

  it('When WeChat checks the URL with a valid signature, then echostr comes back as plain text; with a bad one, 401', async () => {
    const ts = String(Math.floor(Date.now() / 1000));
    const signature = sha1Signature(TEST_WECHAT.WECHAT_TOKEN, ts, '123');
    const ok = await request(a.app.callback()).get('/wechat').query({ signature, timestamp: ts, nonce: '123', echostr: 'hello123' });
    expect(ok.status).toBe(200);
    expect(ok.text).toBe('hello123');
    const bad = await request(a.app.callback()).get('/wechat').query({ signature: '0'.repeat(40), timestamp: ts, nonce: '123', echostr: 'hello123' });
    expect(bad.status).toBe(401);
    expect(bad.text).not.toContain('hello123');
  });
});

describe(`WeChat webhook refusals over HTTP (${backend})`, () => {
  it('When requests are forged, stale, downgraded, oversized or carry entities, then each is refused with its status and nothing is recorded', async () => {
    const openid = uniqueOpenid();
    const xml = eventXml(openid, 'subscribe');
    const good = (await import('../../src/modules/wechat-webhook/outbound-request')).signedWebhookRequest;
    const { IDENTITY } = await import('../helpers/webhook');
    const send = (path: string, body: string) => request(a.app.callback()).post(path).type('text/xml').send(body);

    const forgedReq = good(IDENTITY, xml);
    const forged = await send(forgedReq.path.replace(/msg_signature=[0-9a-f]+/, `msg_signature=${'a'.repeat(40)}`), forgedReq.body);
    const stale = good(IDENTITY, xml, { timestamp: Math.floor(Date.now() / 1000) - 3600 });
    const plain = good({ ...IDENTITY, encodingAesKey: undefined }, xml);
    const big = good(IDENTITY, xml);
    const entity = good(IDENTITY, xml);

    expect(forged.status).toBe(401);
    expect((await send(stale.path, stale.body)).status).toBe(403);
    expect((await send(plain.path, plain.body)).status).toBe(401);
    expect((await send(big.path, big.body + ' '.repeat(70 * 1024))).status).toBe(413);
    expect((await send(entity.path, `<!DOCTYPE xml [<!ENTITY e "x">]>${entity.body}`)).status).toBe(400);
    expect(await followerOf(openid)).toBeNull();

    const metrics = await request(a.app.callback()).get('/metrics');
    expect(metrics.text).toMatch(/wechat_webhook_requests_total\{outcome="forged"\} [1-9]/);
    expect(metrics.text).toMatch(/wechat_webhook_requests_total\{outcome="stale"\} [1-9]/);
    expect(metrics.text).toMatch(/wechat_webhook_requests_total\{outcome="downgraded"\} [1-9]/);
  });
});

/** An instance with a 500 ms reply deadline whose handler for `type` answers `reply` after `delayMs`. */
async function withSlowHandler(type: string, delayMs: number, reply: string, fn: (app: Koa, slow: TestInstance) => Promise<void>) {
  const slow = await startInstance(handle, { env: { ...TEST_WECHAT, WECHAT_API_BASE: sandbox.url, WECHAT_REPLY_DEADLINE_MS: '500' } });
  try {
    const service = new WebhookService(slow.deps, { [type]: () => new Promise((r) => setTimeout(() => r(reply), delayMs)) });
    const app = new Koa();
    app.use(webhookRoutes(slow.deps, service).routes());
    await fn(app, slow);
  } finally {
    await slow.close();
  }
}

describe(`WeChat webhook claims and deadlines (${backend})`, () => {
  it('When an instance crashed mid-handling, then the retry after its lease expired is processed, not dropped', async () => {
    const openid = uniqueOpenid();
    const xml = eventXml(openid, 'subscribe');
    const key = dedupeKey({ xml: parseWechatXml(xml), openid, type: 'event:subscribe' });
    // The crashed instance's claim: "processing" with a lease nobody renews.
    await a.deps.store.acquireAll([key], 'processing', 300);
    expect((await sendToWebhook(a.app, xml)).res.text).toBe('success');
    expect(await followerOf(openid)).toBeNull();
    await new Promise((r) => setTimeout(r, 350));
    expect((await sendToWebhook(a.app, xml)).res.text).not.toBe('success');
    expect(await followerOf(openid)).toMatchObject({ subscribed: true });
  });

  function appWith(service: WebhookService) {
    const app = new Koa();
    const router = webhookRoutes(a.deps, service);
    app.use(router.routes());
    return app;
  }

  it('When handling fails, then WeChat gets a 500 and its retry is processed', async () => {
    let calls = 0;
    const service = new WebhookService(a.deps, {
      'event:click': async () => {
        calls += 1;
        if (calls === 1) throw new Error('database hiccup');
        return 'ok now';
      },
    });
    const app = appWith(service);
    const xml = eventXml(uniqueOpenid(), 'CLICK', { EventKey: 'X' });
    expect((await sendToWebhook(app, xml)).res.status).toBe(500);
    const retry = await sendToWebhook(app, xml);
    expect(replyText(retry.res.text)).toContain('ok now');
  });

  it('When handling outlasts the deadline, then WeChat gets success at once and the reply goes out as a customer-service message', async () => {
    await withSlowHandler('event:click', 1200, '稍后送达的回复', async (app) => {
      const openid = uniqueOpenid();
      sandbox.state.ensureUser(openid).subscribed = true;
      sandbox.state.recordInteraction(openid, 'click');
      const started = Date.now();
      const { res } = await sendToWebhook(app, eventXml(openid, 'CLICK', { EventKey: 'SLOW' }));
      expect(res.text).toBe('success');
      expect(Date.now() - started).toBeLessThan(1100);
      const deadline = Date.now() + 10_000;
      while (sandbox.state.messagesTo(openid).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(sandbox.state.messagesTo(openid)).toHaveLength(1);
      expect(JSON.stringify(sandbox.state.messagesTo(openid)[0].body)).toContain('稍后送达的回复');
    });
  });
});

describe(`WeChat's customer-service window on the deferred path (${backend})`, () => {
  it('When a late reply belongs to a VIEW (which opens no window), then it is dropped instead of spending a refused call', async () => {
    await withSlowHandler('event:view', 800, '不应发送', async (app, slow) => {
      const openid = uniqueOpenid();
      sandbox.state.ensureUser(openid).subscribed = true;
      const callsBefore = sandbox.state.calls.length;
      const repliesBefore = await jobsEnded([slow.deps, a.deps], DEFERRED_REPLY_JOB);
      const { res } = await sendToWebhook(app, eventXml(openid, 'VIEW', { EventKey: 'https://ca.example.cn/h5/' }));
      expect(res.text).toBe('success');
      // The late reply is queued as a job that finds no window and ends; on Redis either instance's worker may run it.
      await untilJobsEnded([slow.deps, a.deps], DEFERRED_REPLY_JOB, repliesBefore + 1);
      expect(sandbox.state.messagesTo(openid)).toHaveLength(0);
      expect(sandbox.state.calls.slice(callsBefore).filter((c) => c.api.includes('custom/send'))).toHaveLength(0);
    });
  });
});

const twoInstances = backend === 'mysql' ? describe : describe.skip;
twoInstances('two instances on one Redis (mysql backend)', () => {
  it('When the original goes to instance A and WeChat retries at instance B, then it is acted on once', async () => {
    const b = await startInstance(handle, { env: { ...TEST_WECHAT, WECHAT_API_BASE: sandbox.url } });
    try {
      const openid = uniqueOpenid();
      const xml = eventXml(openid, 'subscribe', { EventKey: 'qrscene_lb' });
      const before = await handledBy(a, b);
      const results = await Promise.all([sendToWebhook(a.app, xml), sendToWebhook(b.app, xml), sendToWebhook(b.app, xml)]);
      expect(results.filter((r) => r.res.text === 'success')).toHaveLength(2);
      expect((await handledBy(a, b)) - before).toBe(1);
      expect(await followerOf(openid)).toMatchObject({ firstScene: 'lb' });
    } finally {
      await b.close();
    }
  });
});
