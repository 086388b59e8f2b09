import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import Redis from 'ioredis';
import mysql from 'mysql2';

/**
 * What the server child sends to Redis and MariaDB, counted inside the child at the client libraries (the
 * servers are shared with other test runs, so their global counters would count strangers too): every ioredis
 * connection of the process — the store's, and BullMQ's queue, worker and blocking connections — and every
 * statement any mysql2 connection runs, with the commits they make (explicit COMMIT, or a write in autocommit).
 */
export interface ClientCounts {
  /** Redis commands by connection role (`store` = the app's client, `bullmq` = every other) and name. */
  redis: Record<string, number>;
  /** SQL statements by first keyword, plus `commits` (durable write transactions). */
  sql: Record<string, number>;
}

const counts: ClientCounts = { redis: {}, sql: {} };
const bump = (into: Record<string, number>, key: string) => {
  into[key] = (into[key] ?? 0) + 1;
};

export function countClientCommands(storeClient: () => unknown): void {
  const proto = Redis.prototype as unknown as { sendCommand(cmd: { name: string }, ...rest: unknown[]): unknown };
  const send = proto.sendCommand;
  proto.sendCommand = function (this: unknown, cmd, ...rest) {
    bump(counts.redis, `${this === storeClient() ? 'store' : 'bullmq'}.${cmd.name}`);
    return send.call(this, cmd, ...rest);
  };

  const base = Object.getPrototypeOf(mysql.Connection.prototype) as { query(sql: unknown, ...rest: unknown[]): unknown; execute(sql: unknown, ...rest: unknown[]): unknown };
  for (const method of ['query', 'execute'] as const) {
    const original = base[method];
    base[method] = function (this: { benchInTx?: boolean }, sql: unknown, ...rest: unknown[]) {
      const textOf = typeof sql === 'string' ? sql : String((sql as { sql?: string })?.sql ?? '');
      const verb = (/^\s*(\w+)/.exec(textOf)?.[1] ?? '?').toUpperCase();
      bump(counts.sql, verb);
      if (verb === 'START' || verb === 'BEGIN') this.benchInTx = true;
      else if (verb === 'COMMIT' || verb === 'ROLLBACK') {
        if (verb === 'COMMIT') bump(counts.sql, 'commits');
        this.benchInTx = false;
      } else if (!this.benchInTx && (verb === 'INSERT' || verb === 'UPDATE' || verb === 'DELETE' || verb === 'REPLACE')) bump(counts.sql, 'commits');
      return original.call(this, sql, ...rest);
    };
  }
}

export function clientCounts(): ClientCounts {
  return { redis: { ...counts.redis }, sql: { ...counts.sql } };
}

/** A V8 CPU profile of exactly the measured run (not start-up or warm-up), through the inspector. */
export class RunProfiler {
  private session?: Session;

  private post<T>(method: string, params?: object): Promise<T> {
    return new Promise((resolve, reject) => this.session!.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result as T))));
  }

  async start(): Promise<void> {
    this.session = new Session();
    this.session.connect();
    await this.post('Profiler.enable');
    await this.post('Profiler.setSamplingInterval', { interval: 200 });
    await this.post('Profiler.start');
  }

  async stop(file: string): Promise<void> {
    if (!this.session) return;
    const { profile } = await this.post<{ profile: unknown }>('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
    this.session.disconnect();
    this.session = undefined;
  }
}
