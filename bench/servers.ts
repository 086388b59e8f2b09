import http from 'node:http';
import { type AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import Koa from 'koa';
import mount from 'koa-mount';
import getRawBody from 'raw-body';
import { createApp } from '../src/app';
import { closeDeps, openDeps } from '../src/composition';
import { buildConfig } from '../src/config';
import { generateSandboxSecrets } from '../src/config/sandbox-secrets';
import { parseSettings } from '../src/config/settings';
import { type Deps } from '../src/deps';
import { createLogger } from '../src/lib/logger';
import { createSandboxWechatApiApp } from '../src/providers/wechat-api/sandbox';
import { SandboxWechatState } from '../src/providers/wechat-api/sandbox-state';
import { type ClientCounts, clientCounts, countClientCommands, RunProfiler } from './counters';
import { IDENTITY, WECHAT_ENV } from './requests';

/**
 * The three servers under test, each run in its own child process (`tsx bench/webhook.ts --serve a|b|c`).
 * The child talks to the parent over IPC only: `ready` (with the port), `stats` (RSS, event-loop lag,
 * webhook outcomes) and `stop` (graceful close, so `--cpu-prof` can write its profile on exit).
 */
export type ServerKind = 'a' | 'b' | 'c' | 'w';

export interface ChildStats {
  rss: number;
  heapUsed: number;
  /** process.cpuUsage() user + system, µs since start. */
  cpuUs: number;
  /** For (c): wechat_webhook_requests_total by outcome (handled, duplicate, deferred, failed, forged, …). */
  outcomes?: Record<string, number>;
  /** For (c): Redis commands of every connection and SQL statements of every connection (bench/counters.ts). */
  clients?: ClientCounts;
  /** For (c): jobs run, by `name.result` (ok, retry, failed). */
  jobs?: Record<string, number>;
  /** For (w): WeChat API calls answered, by path. */
  wechatCalls?: Record<string, number>;
}

export type ParentMessage = { type: 'stats' } | { type: 'stop' } | { type: 'profile-start' } | { type: 'profile-stop'; file: string };
export type ChildMessage = { type: 'ready'; port: number } | { type: 'stats'; stats: ChildStats } | { type: 'fatal'; error: string } | { type: 'profiled' };

interface CoWechatFactory {
  (config: { token: string; appid: string; encodingAESKey: string }): {
    middleware(handle: (message: Record<string, unknown>) => Promise<string>): Koa.Middleware;
  };
}

function bareKoa(): Koa {
  const app = new Koa();
  app.use((ctx) => {
    ctx.body = 'hello';
  });
  return app;
}

function coWechatApp(): Koa {
  // co-wechat ships no types; its factory is described by CoWechatFactory above.
  const coWechat = require('co-wechat') as CoWechatFactory;
  const wechat = coWechat({ token: IDENTITY.token, appid: IDENTITY.appId, encodingAESKey: IDENTITY.encodingAesKey! });
  const app = new Koa();
  app.use(mount('/wechat', wechat.middleware(async () => '欢迎关注 GDCA 数安时代！数字证书在线续期请点击菜单【客户服务】→【数安CA管家】。')));
  return app;
}

const wechatCalls: Record<string, number> = {};

/**
 * (w): the sandbox WeChat API (WeChat's JSON and errcodes, tokens checked), standing in for api.weixin.qq.com so
 * (c)'s jobs call an API that answers, as in production. Each bench follower is a real follower on WeChat's side
 * (it just followed), so user/info and user/info/batchget answer subscribe 1 with a unionid, as WeChat would.
 */
function wechatApiStub(): Koa {
  const state = new SandboxWechatState(WECHAT_ENV.WECHAT_APPID, WECHAT_ENV.WECHAT_APPSECRET);
  const app = new Koa();
  app.use(async (ctx, next) => {
    wechatCalls[ctx.path] = (wechatCalls[ctx.path] ?? 0) + 1;
    const follows = (openid: unknown) => {
      if (typeof openid === 'string' && !state.users.get(openid)?.subscribed) state.recordInteraction(openid, 'subscribe', 'bench');
    };
    if (ctx.path.endsWith('/cgi-bin/user/info')) follows(ctx.query.openid);
    if (ctx.path.endsWith('/cgi-bin/user/info/batchget')) {
      // The openids are in the body: read it, make them followers, and hand the same bytes on to the sandbox.
      const raw = await getRawBody(ctx.req, { limit: '64kb' });
      for (const u of (JSON.parse(raw.toString('utf-8')) as { user_list?: Array<{ openid?: unknown }> }).user_list ?? []) follows(u.openid);
      ctx.req = Object.assign(Readable.from([raw]), { headers: ctx.req.headers, method: ctx.req.method, url: ctx.req.url }) as unknown as http.IncomingMessage;
    }
    await next();
  });
  app.use(mount(createSandboxWechatApiApp(state, createLogger('silent'))));
  return app;
}

/** (c): the production composition, configured only through the settings the parent put in the environment. */
async function realApp(): Promise<{ app: Koa; deps: Deps }> {
  const settings = parseSettings(process.env);
  const config = buildConfig(settings, generateSandboxSecrets());
  if (config.wechat.mode !== 'real' || !config.wechat.encodingAesKey || config.database.kind !== 'mysql' || config.cache.kind !== 'redis') {
    throw new Error('bench (c) must run in real WeChat safe mode on MySQL + Redis');
  }
  let storeClient: unknown;
  countClientCommands(() => storeClient);
  const deps = await openDeps(config);
  storeClient = (deps.store as { client?: unknown }).client;
  const app = createApp(deps);
  await deps.jobs.start();
  return { app, deps };
}

async function webhookOutcomes(deps: Deps): Promise<Record<string, number>> {
  const metric = await deps.metrics.webhookOutcomes.get();
  const out: Record<string, number> = {};
  for (const v of metric.values) out[String(v.labels.outcome)] = v.value;
  return out;
}

async function jobResults(deps: Deps): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await deps.metrics.jobs.get()).values) out[`${String(v.labels.name)}.${String(v.labels.result)}`] = v.value;
  return out;
}

export async function serveChild(kind: ServerKind, port: number): Promise<void> {
  const send = (msg: ChildMessage) => process.send?.(msg);
  let deps: Deps | undefined;
  let app: Koa;
  try {
    if (kind === 'a') app = bareKoa();
    else if (kind === 'b') app = coWechatApp();
    else if (kind === 'w') app = wechatApiStub();
    else ({ app, deps } = await realApp());
  } catch (err) {
    send({ type: 'fatal', error: (err as Error).stack ?? String(err) });
    process.exit(1);
  }

  const profiler = new RunProfiler();
  const server = http.createServer(app.callback());
  await new Promise<void>((ok, fail) => server.once('error', fail).listen(port, '127.0.0.1', ok));

  process.on('message', (msg: ParentMessage) => {
    if (msg.type === 'stats') {
      void (async () => {
        const mem = process.memoryUsage();
        const cpu = process.cpuUsage();
        const stats: ChildStats = { rss: mem.rss, heapUsed: mem.heapUsed, cpuUs: cpu.user + cpu.system };
        if (deps) Object.assign(stats, { outcomes: await webhookOutcomes(deps), clients: clientCounts(), jobs: await jobResults(deps) });
        if (kind === 'w') stats.wechatCalls = { ...wechatCalls };
        send({ type: 'stats', stats });
      })();
    } else if (msg.type === 'profile-start') {
      void profiler.start().then(() => send({ type: 'profiled' }));
    } else if (msg.type === 'profile-stop') {
      void profiler.stop(msg.file).then(() => send({ type: 'profiled' }));
    } else if (msg.type === 'stop') {
      server.closeAllConnections();
      server.close();
      void (deps ? closeDeps(deps) : Promise.resolve()).finally(() => process.exit(0));
    }
  });
  // The parent going away must not leave a server (and its pools) behind.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', port: (server.address() as AddressInfo).port });
}
