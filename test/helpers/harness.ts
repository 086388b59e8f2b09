import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Koa from 'koa';
import { createConnection } from 'mysql2/promise';
import Redis from 'ioredis';
import { createApp } from '../../src/app';
import { closeDeps, openDeps } from '../../src/composition';
import { buildConfig, type AppConfig } from '../../src/config';
import { generateSandboxSecrets } from '../../src/config/sandbox-secrets';
import { parseSettings } from '../../src/config/settings';
import { type Deps } from '../../src/deps';
import { type Clock } from '../../src/lib/clock';
import { createLogger } from '../../src/lib/logger';
import { SandboxWechatState } from '../../src/providers/wechat-api/sandbox-state';
import { createSandboxWechatApiApp } from '../../src/providers/wechat-api/sandbox';

/**
 * Test backends: TEST_BACKEND=mysql runs on the real MariaDB + Redis (a fresh schema and key prefix per
 * test file), TEST_BACKEND=embedded on SQLite + in-process stores. The same test files run on both.
 */
export const backend = (process.env.TEST_BACKEND ?? 'embedded') as 'mysql' | 'embedded';
export const MYSQL_URL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

export const TEST_WECHAT = {
  WECHAT_APPID: 'wx1234567890abcdef',
  WECHAT_APPSECRET: 'abcdefghijklmnopqrstuvwxyz012345',
  WECHAT_TOKEN: 'testtoken123',
  WECHAT_ENCODING_AES_KEY: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};

/** A sandbox WeChat API listening on 127.0.0.1: the real client code talks to it over HTTP. */
export interface SandboxWechatServer {
  state: SandboxWechatState;
  url: string;
  close(): Promise<void>;
}

export async function startSandboxWechat(appId = TEST_WECHAT.WECHAT_APPID, appSecret = TEST_WECHAT.WECHAT_APPSECRET): Promise<SandboxWechatServer> {
  const state = new SandboxWechatState(appId, appSecret);
  const app = createSandboxWechatApiApp(state, createLogger('silent'));
  const server: Server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { state, url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

export interface TestBackendHandle {
  schema: string;
  prefix: string;
  dataDir: string;
  env: Record<string, string>;
  drop(): Promise<void>;
}

/** Creates an isolated database (schema or file) and store prefix for one test file. */
export async function createTestBackend(): Promise<TestBackendHandle> {
  const id = randomBytes(5).toString('hex');
  const schema = `t_${id}`;
  const prefix = `t_${id}:`;
  const dataDir = mkdtempSync(join(tmpdir(), `cam-${id}-`));
  // One built-in CA key per backend: every instance started on it must decrypt the same stored CA keys.
  const CA_KEY_ENCRYPTION_KEY = randomBytes(32).toString('base64');
  if (backend === 'embedded') {
    return { schema, prefix, dataDir, env: { DATA_DIR: dataDir, CA_KEY_ENCRYPTION_KEY }, drop: async () => rmSync(dataDir, { recursive: true, force: true }) };
  }
  const admin = await createConnection(MYSQL_URL);
  await admin.query(`CREATE DATABASE \`${schema}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await admin.end();
  const dbUrl = new URL(MYSQL_URL);
  dbUrl.pathname = `/${schema}`;
  return {
    schema,
    prefix,
    dataDir,
    env: { DATA_DIR: dataDir, DATABASE_URL: dbUrl.toString(), REDIS_URL, REDIS_PREFIX: prefix, CA_KEY_ENCRYPTION_KEY },
    drop: async () => {
      const conn = await createConnection(MYSQL_URL);
      await conn.query(`DROP DATABASE IF EXISTS \`${schema}\``);
      await conn.end();
      const redis = new Redis(REDIS_URL);
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
        cursor = next;
        if (keys.length) await redis.del(...keys);
      } while (cursor !== '0');
      await redis.quit();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface TestInstance {
  deps: Deps;
  app: Koa;
  config: AppConfig;
  close(): Promise<void>;
}

/**
 * Builds one app instance on the given backend. Several instances may share one backend (as instances
 * behind a load balancer share MySQL and Redis). `env` adds or overrides settings.
 */
export async function startInstance(
  handle: TestBackendHandle,
  opts: { env?: Record<string, string | undefined>; clock?: Clock; sandboxWechat?: SandboxWechatState; startJobs?: boolean } = {},
): Promise<TestInstance> {
  const env = { APP_ENV: 'test', LOG_LEVEL: 'silent', SESSION_SECRET: 'test-session-secret-0123456789abcdef', ...handle.env, ...opts.env };
  const settings = parseSettings(env);
  const config = buildConfig(settings, generateSandboxSecrets());
  const deps = await openDeps(config, { clock: opts.clock, sandboxWechat: opts.sandboxWechat, logger: createLogger(env.LOG_LEVEL ?? 'silent') });
  const app = createApp(deps);
  if (opts.startJobs ?? true) await deps.jobs.start();
  return { deps, app, config, close: () => closeDeps(deps) };
}

/** A clock tests can move. */
export class TestClock implements Clock {
  constructor(private ms = Date.now()) {}
  nowMs() {
    return this.ms;
  }
  advance(ms: number) {
    this.ms += ms;
  }
  set(ms: number) {
    this.ms = ms;
  }
}
