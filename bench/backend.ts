import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { createConnection } from 'mysql2/promise';
import { WECHAT_ENV } from './requests';

/**
 * A throw-away MySQL schema and Redis key prefix for scenario (c), plus the environment (c)'s child parses
 * with the project's own parseSettings. Everything created here is removed by drop().
 */
export const MYSQL_URL = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/';
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

export interface BenchBackend {
  schema: string;
  prefix: string;
  /** The settings (c) runs with (APP_ENV=test, every WeChat check on, MySQL + Redis). */
  env: Record<string, string>;
  counts(): Promise<{ followers: number }>;
  /** Followers whose legacy-binding restore is still owed (the owed-restore pass clears the mark). */
  owedRestores(): Promise<number>;
  followerOpenids(): Promise<Set<string>>;
  /** Global MariaDB statement counters (a shared server: other clients count too). */
  counters(): Promise<Record<string, number>>;
  drop(): Promise<{ keysDeleted: number }>;
}

function schemaUrl(schema: string): string {
  const url = new URL(MYSQL_URL);
  url.pathname = `/${schema}`;
  return url.toString();
}

export async function createBenchBackend(): Promise<BenchBackend> {
  const id = randomBytes(4).toString('hex');
  const schema = `bench_${id}`;
  const prefix = `bench_${id}:`;
  const admin = await createConnection(MYSQL_URL);
  await admin.query(`CREATE DATABASE \`${schema}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await admin.end();

  const env: Record<string, string> = {
    APP_ENV: 'test',
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'silent',
    SESSION_SECRET: randomBytes(32).toString('base64url'),
    DATABASE_URL: schemaUrl(schema),
    REDIS_URL,
    REDIS_PREFIX: prefix,
    ...WECHAT_ENV,
  };
  if (process.env.BENCH_DB_POOL_SIZE) env.DB_POOL_SIZE = process.env.BENCH_DB_POOL_SIZE;

  let dropped = false;
  return {
    schema,
    prefix,
    env,
    async counts() {
      const conn = await createConnection(schemaUrl(schema));
      try {
        const [[f]] = await conn.query<import('mysql2').RowDataPacket[]>('SELECT COUNT(*) AS n FROM followers');
        return { followers: Number(f.n) };
      } finally {
        await conn.end();
      }
    },
    async owedRestores() {
      const conn = await createConnection(schemaUrl(schema));
      try {
        const [[f]] = await conn.query<import('mysql2').RowDataPacket[]>('SELECT COUNT(*) AS n FROM followers WHERE restore_owed = 1');
        return Number(f.n);
      } finally {
        await conn.end();
      }
    },
    async followerOpenids() {
      const conn = await createConnection(schemaUrl(schema));
      try {
        const [rows] = await conn.query<import('mysql2').RowDataPacket[]>('SELECT openid FROM followers');
        return new Set(rows.map((r) => String(r.openid)));
      } finally {
        await conn.end();
      }
    },
    async counters() {
      const out: Record<string, number> = {};
      const conn = await createConnection(MYSQL_URL);
      try {
        const [rows] = await conn.query<import('mysql2').RowDataPacket[]>(
          `SHOW GLOBAL STATUS WHERE Variable_name IN ('Questions','Com_begin','Com_commit','Com_rollback','Com_insert','Com_update','Com_select','Innodb_deadlocks','Innodb_os_log_fsyncs')`,
        );
        for (const r of rows) out[`mysql.${String(r.Variable_name)}`] = Number(r.Value);
      } finally {
        await conn.end();
      }
      return out;
    },
    async drop() {
      if (dropped) return { keysDeleted: 0 };
      dropped = true;
      const conn = await createConnection(MYSQL_URL);
      await conn.query(`DROP DATABASE IF EXISTS \`${schema}\``);
      await conn.end();
      const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 2 });
      await redis.connect();
      let keysDeleted = 0;
      let cursor = '0';
      try {
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
          cursor = next;
          if (keys.length) keysDeleted += await redis.del(...keys);
        } while (cursor !== '0');
      } finally {
        await redis.quit();
      }
      return { keysDeleted };
    },
  };
}

/** Every setting the app reads is removed from the inherited environment, so only the bench's own apply. */
export function childEnv(appSettingNames: string[], extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) if (appSettingNames.includes(name) || name.startsWith('WECHAT')) delete env[name];
  return { ...env, ...extra };
}
