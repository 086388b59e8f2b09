import http from 'node:http';
import { type AddressInfo } from 'node:net';
import Koa from 'koa';
import mount from 'koa-mount';
import { createApp } from '../src/app';
import { closeDeps, openDeps } from '../src/composition';
import { buildConfig } from '../src/config';
import { generateSandboxSecrets } from '../src/config/sandbox-secrets';
import { parseSettings } from '../src/config/settings';
import { type Deps } from '../src/deps';
import { IDENTITY } from './requests';

/**
 * The three servers under test, each run in its own child process (`tsx bench/webhook.ts --serve a|b|c`).
 * The child talks to the parent over IPC only: `ready` (with the port), `stats` (RSS, event-loop lag,
 * webhook outcomes) and `stop` (graceful close, so `--cpu-prof` can write its profile on exit).
 */
export type ServerKind = 'a' | 'b' | 'c';

export interface ChildStats {
  rss: number;
  heapUsed: number;
  /** process.cpuUsage() user + system, µs since start. */
  cpuUs: number;
  /** For (c): wechat_webhook_requests_total by outcome (handled, duplicate, deferred, failed, forged, …). */
  outcomes?: Record<string, number>;
  /** For (c): commands the app's own Redis client sent, by name (BullMQ's connections not included). */
  redisCommands?: Record<string, number>;
}

export type ParentMessage = { type: 'stats' } | { type: 'stop' };
export type ChildMessage = { type: 'ready'; port: number } | { type: 'stats'; stats: ChildStats } | { type: 'fatal'; error: string };

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

/** (c): the production composition, configured only through the settings the parent put in the environment. */
async function realApp(): Promise<{ app: Koa; deps: Deps }> {
  const settings = parseSettings(process.env);
  const config = buildConfig(settings, generateSandboxSecrets());
  if (config.wechat.mode !== 'real' || !config.wechat.encodingAesKey || config.database.kind !== 'mysql' || config.cache.kind !== 'redis') {
    throw new Error('bench (c) must run in real WeChat safe mode on MySQL + Redis');
  }
  const deps = await openDeps(config);
  countRedisCommands(deps);
  const app = createApp(deps);
  await deps.jobs.start();
  return { app, deps };
}

const redisCommands: Record<string, number> = {};

/** Counts what the store's ioredis client sends: the server-wide INFO counters also see other clients. */
function countRedisCommands(deps: Deps) {
  const client = (deps.store as { client?: { sendCommand(cmd: { name: string }, ...rest: unknown[]): unknown } }).client;
  if (!client) return;
  const send = client.sendCommand.bind(client);
  client.sendCommand = (cmd, ...rest) => {
    redisCommands[cmd.name] = (redisCommands[cmd.name] ?? 0) + 1;
    return send(cmd, ...rest);
  };
}

async function webhookOutcomes(deps: Deps): Promise<Record<string, number>> {
  const metric = await deps.metrics.webhookOutcomes.get();
  const out: Record<string, number> = {};
  for (const v of metric.values) out[String(v.labels.outcome)] = v.value;
  return out;
}

export async function serveChild(kind: ServerKind, port: number): Promise<void> {
  const send = (msg: ChildMessage) => process.send?.(msg);
  let deps: Deps | undefined;
  let app: Koa;
  try {
    if (kind === 'a') app = bareKoa();
    else if (kind === 'b') app = coWechatApp();
    else ({ app, deps } = await realApp());
  } catch (err) {
    send({ type: 'fatal', error: (err as Error).stack ?? String(err) });
    process.exit(1);
  }

  const server = http.createServer(app.callback());
  await new Promise<void>((ok, fail) => server.once('error', fail).listen(port, '127.0.0.1', ok));

  process.on('message', (msg: ParentMessage) => {
    if (msg.type === 'stats') {
      void (async () => {
        const mem = process.memoryUsage();
        const cpu = process.cpuUsage();
        const stats: ChildStats = { rss: mem.rss, heapUsed: mem.heapUsed, cpuUs: cpu.user + cpu.system };
        if (deps) Object.assign(stats, { outcomes: await webhookOutcomes(deps), redisCommands: { ...redisCommands } });
        send({ type: 'stats', stats });
      })();
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
