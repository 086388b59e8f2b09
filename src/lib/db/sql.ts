import { type DataSource, type EntityManager } from 'typeorm';

export type Dialect = 'mysql' | 'sqlite';

export function dialectOf(db: DataSource | EntityManager): Dialect {
  const type = 'connection' in db ? db.connection.options.type : db.options.type;
  return type === 'mysql' ? 'mysql' : 'sqlite';
}

/**
 * A time as a DATETIME(3) literal in UTC: how TypeORM stores dates on SQLite, and what MySQL reads back as UTC
 * with the connection's timezone 'Z'. Used by the few hot-path statements written as SQL.
 */
export function utcDatetime(date: Date): string {
  return date.toISOString().replace('T', ' ').replace('Z', '');
}

const TRANSIENT = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT', 'SQLITE_BUSY']);

function isTransient(err: unknown): boolean {
  const e = err as { code?: string; driverError?: { code?: string } };
  return TRANSIENT.has(e.driverError?.code ?? e.code ?? '');
}

/**
 * Runs `fn` again when the database chose it as a deadlock victim (or a lock wait timed out): InnoDB may do that
 * to any concurrent writers, and the right answer is to retry the whole unit of work.
 */
export async function retryTransient<T>(fn: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= attempts || !isTransient(err)) throw err;
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * attempt));
    }
  }
}
