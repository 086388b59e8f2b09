import { AsyncLocalStorage } from 'node:async_hooks';
import { type DataSource, type EntityManager, type QueryRunner } from 'typeorm';
import { dialectOf, retryTransient } from './sql';

/**
 * Runs `work` in one transaction. Every service uses this instead of `db.transaction`:
 * - MySQL: a deadlock victim (or lock wait timeout) reruns the whole unit of work, so `work` must only touch
 *   the database (side effects come after commit anyway).
 * - SQLite (the embedded default): better-sqlite3 is one connection per process, shared by every caller. The
 *   transaction runs alone on it (see serialised): nothing else — another transaction, a plain write, a read —
 *   runs on the connection until it has committed or rolled back.
 */
export function inTransaction<T>(db: DataSource, work: (em: EntityManager) => Promise<T>): Promise<T> {
  if (dialectOf(db) === 'mysql') return retryTransient(() => db.transaction(work));
  return serialised(db, () => db.transaction(work));
}

/** Who holds a SQLite connection now (the async context of the holder), and the queue behind it. */
interface Serial { tail: Promise<unknown>; holder: object | null; waitListeners: Set<() => void> }
const serials = new WeakMap<DataSource, Serial>();
function serialOf(db: DataSource): Serial {
  let serial = serials.get(db);
  if (!serial) serials.set(db, (serial = { tail: Promise.resolve(), holder: null, waitListeners: new Set() }));
  return serial;
}
const holderContext = new AsyncLocalStorage<object>();

/**
 * Runs `fn` alone on the SQLite connection: after everything queued before it, with nothing queued after it
 * starting until it ends. Code running inside `fn` (the same async context) goes straight through, so the
 * statements of a transaction reach the connection while it holds it. On MySQL it simply runs `fn`.
 */
export function serialised<T>(db: DataSource, fn: () => Promise<T>): Promise<T> {
  if (dialectOf(db) === 'mysql') return fn();
  const s = serialOf(db);
  const current = holderContext.getStore();
  if (current && current === s.holder) return fn();
  if (s.holder) for (const listener of s.waitListeners) listener();
  const token = {};
  const run = s.tail.then(() => {
    s.holder = token;
    return holderContext.run(token, fn);
  }).finally(() => {
    if (s.holder === token) s.holder = null;
  });
  s.tail = run.catch(() => undefined);
  return run;
}

/**
 * Calls `listener` each time a call has to wait because another caller holds the SQLite connection (never on
 * MySQL). Tests wait for this event instead of a timer to know that work queued behind an open transaction.
 * Returns the unsubscribe.
 */
export function onWaitForConnection(db: DataSource, listener: () => void): () => void {
  const { waitListeners } = serialOf(db);
  waitListeners.add(listener);
  return () => waitListeners.delete(listener);
}

/** Whether the caller runs inside the work that holds the SQLite connection now (never on MySQL). */
export function holdsConnection(db: DataSource): boolean {
  const current = holderContext.getStore();
  return current !== undefined && current === serials.get(db)?.holder;
}

/**
 * Runs `fn` outside whichever holder's async context the caller is in: what `fn` starts later (a timer, a
 * batch) queues like any other caller instead of slipping into that holder's transaction.
 */
export function detachedFromHolder<T>(fn: () => T): T {
  return holderContext.exit(fn);
}

/**
 * TypeORM gives better-sqlite3 ONE query runner for the whole process: without this, a write made outside
 * `inTransaction` while another caller's transaction is open joins that transaction (and is rolled back with
 * it), and a read sees its uncommitted rows. Every query of the runner is therefore sent through `serialised`:
 * a statement from outside the open transaction waits until it ends. Called once on a new SQLite DataSource.
 * TypeORM's own implicit transactions (`save`/`remove` outside a transaction) are not covered: on SQLite, write
 * with insert/update inside or outside `inTransaction` instead.
 */
export function serialiseSqliteQueries(db: DataSource): void {
  if (dialectOf(db) === 'mysql') return;
  const driver = db.driver as unknown as { createQueryRunner(mode?: 'master' | 'slave'): QueryRunner };
  const create = driver.createQueryRunner.bind(driver);
  const wrapped = new WeakSet<QueryRunner>();
  driver.createQueryRunner = (mode) => {
    const runner = create(mode);
    if (!wrapped.has(runner)) {
      wrapped.add(runner);
      const query = runner.query.bind(runner) as (...args: unknown[]) => Promise<unknown>;
      (runner as { query: (...args: unknown[]) => Promise<unknown> }).query = (...args) => serialised(db, () => query(...args));
    }
    return runner;
  };
}
