import { createHash, randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { createConnection } from 'mysql2/promise';
import { createSearchIndexes, dropSearchIndexes } from '../migrations/1766200000000-OrderSearch';
import { closeDeps, openDeps } from '../src/composition';
import { buildConfig } from '../src/config';
import { generateSandboxSecrets } from '../src/config/sandbox-secrets';
import { parseSettings } from '../src/config/settings';
import { type Deps } from '../src/deps';
import { createLogger } from '../src/lib/logger';
import { MYSQL_URL, REDIS_URL } from './backend';
import { loadOrderData, type LoadResult } from './order-data';

/**
 * The shared part of bench/order-search.ts and bench/dashboard.ts: a schema `bench_<id>` on MySQL (or `--schema` to
 * reuse one a previous `--keep` run loaded), the app's deps opened on it (migrated), the million orders loaded
 * WITHOUT the indexes of migration 1766200000000 (so the baseline can be measured first), and the switch that adds
 * them. Everything is removed afterwards unless kept.
 */
export interface ConsoleBench {
  deps: Deps;
  schema: string;
  env: Record<string, string>;
  loaded: LoadResult | null;
  dropSearchIndexes(): Promise<void>;
  /** Adds the indexes (as the migration does); returns the ms it took. */
  createSearchIndexes(): Promise<number>;
  close(keep: boolean): Promise<void>;
}

export const BENCH_NOW = Date.parse('2026-12-03T02:00:00Z');

export async function openConsoleBench(opts: { schema?: string; orders: number; log: (line: string) => void }): Promise<ConsoleBench> {
  const schema = opts.schema ?? `bench_${randomBytes(4).toString('hex')}`;
  const prefix = `${schema}:`;
  if (!opts.schema) {
    const admin = await createConnection(MYSQL_URL);
    await admin.query(`CREATE DATABASE \`${schema}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    await admin.end();
  }
  const url = new URL(MYSQL_URL);
  url.pathname = `/${schema}`;
  const env: Record<string, string> = {
    APP_ENV: 'test', LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'silent', SESSION_SECRET: randomBytes(32).toString('base64url'),
    DATABASE_URL: url.toString(), REDIS_URL, REDIS_PREFIX: prefix,
    // The sandbox CA's keys are stored encrypted: a run reusing the schema (--schema) must derive the same key.
    CA_KEY_ENCRYPTION_KEY: createHash('sha256').update(`bench-ca-${schema}`).digest('base64'),
  };
  const deps = await openDeps(buildConfig(parseSettings(env), generateSandboxSecrets()), { clock: { nowMs: () => BENCH_NOW }, logger: createLogger(env.LOG_LEVEL!) });
  const indexesPresent = async () => Number((await deps.db.query("SELECT COUNT(*) AS n FROM information_schema.statistics WHERE table_schema = DATABASE() AND index_name = 'ix_orders_created'"))[0].n) > 0;
  const bench: ConsoleBench = {
    deps, schema, env, loaded: null,
    async dropSearchIndexes() {
      if (!(await indexesPresent())) return;
      const q = deps.db.createQueryRunner();
      try { await dropSearchIndexes(q); } finally { await q.release(); }
    },
    async createSearchIndexes() {
      if (await indexesPresent()) return 0;
      const started = Date.now();
      const q = deps.db.createQueryRunner();
      try { await createSearchIndexes(q); } finally { await q.release(); }
      await deps.db.query('ANALYZE TABLE orders, order_search_keys, certificates, bank_statement_lines');
      return Date.now() - started;
    },
    async close(keep) {
      await closeDeps(deps);
      if (keep) return;
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
    },
  };
  if (!opts.schema) {
    await bench.dropSearchIndexes();
    bench.loaded = await loadOrderData(env.DATABASE_URL!, { orders: opts.orders, nowMs: BENCH_NOW, log: opts.log });
  }
  return bench;
}

export interface Stats { n: number; p50: number; p95: number; p99: number; max: number }

export function stats(ms: number[]): Stats {
  const s = [...ms].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
  const r = (x: number) => Math.round(x * 10) / 10;
  return { n: s.length, p50: r(at(50)), p95: r(at(95)), p99: r(at(99)), max: r(s[s.length - 1] ?? NaN) };
}

/** Times `fn` `n` times, one after another (the latency one operator sees). */
export async function timeCalls(n: number, fn: (i: number) => Promise<unknown>): Promise<Stats> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    ms.push(performance.now() - t0);
  }
  return stats(ms);
}
