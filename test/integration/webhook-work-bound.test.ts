import Koa from 'koa';
import { type JobQueue } from '../../src/lib/jobs/types';
import { createLogger } from '../../src/lib/logger';
import { DEFERRED_REPLY_JOB, webhookRoutes } from '../../src/modules/wechat-webhook/routes';
import { WebhookService } from '../../src/modules/wechat-webhook/service';
import { backend, createTestBackend, startInstance, startSandboxWechat, TEST_WECHAT, TestClock, type SandboxWechatServer, type TestBackendHandle, type TestInstance } from '../helpers/harness';
import { eventXml, sendToWebhook, uniqueOpenid } from '../helpers/webhook';

let sandbox: SandboxWechatServer;
let handle: TestBackendHandle;
let instance: TestInstance;
const clock = new TestClock();

beforeAll(async () => {
  sandbox = await startSandboxWechat();
  handle = await createTestBackend();
  instance = await startInstance(handle, { clock, env: { ...TEST_WECHAT, WECHAT_API_BASE: sandbox.url, WECHAT_REPLY_DEADLINE_MS: '500' } });
});
afterAll(async () => {
  await instance?.close();
  await handle?.drop();
  await sandbox?.close();
});

async function outcome(name: string): Promise<number> {
  return (await instance.deps.metrics.webhookOutcomes.get()).values.filter((v) => v.labels.outcome === name).reduce((n, v) => n + v.value, 0);
}

/** Polls until `check` holds (the event that proves it), failing after `ms` of real time. */
async function eventually(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe(`WeChat webhook work bound (${backend})`, () => {
  it('When a handler hangs past 30 s on the clock, then its claim is released, it counts as failed, and a durable retry does the work and sends the reply', async () => {
    const calls: string[] = [];
    const service = new WebhookService(instance.deps, {
      'event:click': async ({ openid }) => {
        calls.push(openid);
        // The first run hangs for good (a stuck upstream); the retry finishes.
        if (calls.length === 1) return new Promise<string>(() => undefined);
        return '重做后的回复';
      },
    });
    const app = new Koa();
    app.use(webhookRoutes(instance.deps, service).routes());
    const openid = uniqueOpenid();
    sandbox.state.ensureUser(openid).subscribed = true;
    sandbox.state.recordInteraction(openid, 'click');
    const failedBefore = await outcome('failed');

    const { res } = await sendToWebhook(app, eventXml(openid, 'CLICK', { EventKey: 'HANG' }));
    expect(res.text).toBe('success');
    expect(calls).toHaveLength(1);

    clock.advance(30_000);
    await eventually(async () => (await outcome('failed')) === failedBefore + 1);
    await eventually(() => sandbox.state.messagesTo(openid).length === 1);
    expect(calls).toHaveLength(2);
    expect(JSON.stringify(sandbox.state.messagesTo(openid)[0].body)).toContain('重做后的回复');
  });
});

describe(`WeChat webhook deferred replies (${backend})`, () => {
  it('When the deferred reply cannot be queued, then the failure is logged, not swallowed', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    // The job queue refuses exactly the reply (Redis gone at that moment); everything else goes through.
    const jobs: JobQueue = {
      ...instance.deps.jobs,
      kind: instance.deps.jobs.kind,
      register: (name, handler) => instance.deps.jobs.register(name, handler),
      enqueue: async (name, payload, opts) => {
        if (name === DEFERRED_REPLY_JOB) throw new Error('queue unavailable');
        return instance.deps.jobs.enqueue(name, payload, opts);
      },
    };
    const deps = { ...instance.deps, jobs, logger };
    const service = new WebhookService(deps, { 'event:click': () => new Promise((r) => setTimeout(() => r('迟到的回复'), 800)) });
    const app = new Koa();
    app.use(webhookRoutes(deps, service).routes());

    const { res } = await sendToWebhook(app, eventXml(uniqueOpenid(), 'CLICK', { EventKey: 'SLOW' }));
    expect(res.text).toBe('success');
    await eventually(() => lines.some((l) => l.msg === 'could not queue the deferred reply'));
    const logged = lines.find((l) => l.msg === 'could not queue the deferred reply')!;
    expect(logged.level).toBe(50);
    expect(JSON.stringify(logged.err)).toContain('queue unavailable');
  });
});
