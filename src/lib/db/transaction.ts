import { type DataSource, type EntityManager } from 'typeorm';
import { dialectOf, retryTransient } from './sql';

const sqliteQueues = new WeakMap<DataSource, Promise<unknown>>();

/**
 * Runs `work` in one transaction. Every service uses this instead of `db.transaction`:
 * - MySQL: a deadlock victim (or lock wait timeout) reruns the whole unit of work, so `work` must only touch
 *   the database (side effects come after commit anyway).
 * - SQLite (the embedded default): better-sqlite3 is one connection per process, and two TypeORM transactions
 *   started at once interleave on it ("cannot start a transaction within a transaction", and a rollback of
 *   one would undo the other's rows). Transactions are therefore queued one after another in this process.
 */
export function inTransaction<T>(db: DataSource, work: (em: EntityManager) => Promise<T>): Promise<T> {
  if (dialectOf(db) === 'mysql') return retryTransient(() => db.transaction(work));
  const previous = sqliteQueues.get(db) ?? Promise.resolve();
  const run = previous.then(() => db.transaction(work));
  sqliteQueues.set(db, run.catch(() => undefined));
  return run;
}
