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

type DriverError = { code?: string; errno?: number; driverError?: { code?: string; errno?: number } };
const codeOf = (err: unknown) => (err as DriverError).driverError?.code ?? (err as DriverError).code ?? '';

function isTransient(err: unknown): boolean {
  return TRANSIENT.has(codeOf(err));
}

/** MySQL's ER_DUP_ENTRY (errno 1062) or SQLite's unique/primary-key constraint: someone wrote the same row first. */
export function isUniqueViolation(err: unknown): boolean {
  const code = codeOf(err);
  const errno = (err as DriverError).driverError?.errno ?? (err as DriverError).errno;
  return code === 'ER_DUP_ENTRY' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || errno === 1062;
}

/** InnoDB chose this transaction as a deadlock victim. */
export const isDeadlock = (err: unknown) => codeOf(err) === 'ER_LOCK_DEADLOCK';

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
