import { type DataSource } from 'typeorm';
import { detachedFromHolder, holdsConnection, serialised } from './transaction';

/**
 * Group commit for small writes that arrive in bursts (a follow campaign, a template-message run): writes
 * submitted while a batch is being committed wait and go together in the next one, as one statement and one
 * commit. Every caller's promise settles only when its own batch has committed (or failed), so a caller that
 * answers after `await submit()` still answers after its write is durable. With one batch in flight at a time a
 * lone write goes out at once; under load, batches grow by themselves (the same idea as InnoDB's group commit).
 *
 * Given the DataSource, a batch goes through the serialised executor (transaction.ts) as one unit, started
 * outside any caller's async context: on SQLite it waits for an open transaction like any other writer (it never
 * joins it, so another caller's rollback cannot undo it), and its statements run back to back. A caller that holds
 * the SQLite connection itself (inside `inTransaction`) writes at once, as part of its own work: a batch could only
 * run after that work ends, and the work waits for its write — it would never end.
 */
interface Waiting<T> {
  item: T;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface GroupCommitOptions {
  maxBatch: number;
  maxInFlight: number;
  /** The database the flush writes to: batches then go through its serialised executor. */
  db?: DataSource;
}

export class GroupCommit<T> {
  private waiting: Waiting<T>[] = [];
  private inFlight = 0;
  private scheduled = false;
  private readonly opts: GroupCommitOptions;

  constructor(
    /** Writes the items, in order, in as few statements as it can; rejects when none of them may count as written. */
    private readonly flush: (items: T[]) => Promise<void>,
    opts: Partial<GroupCommitOptions> = {},
  ) {
    this.opts = { maxBatch: 200, maxInFlight: 1, ...opts };
  }

  submit(item: T): Promise<void> {
    const { db } = this.opts;
    if (db && holdsConnection(db)) return this.flush([item]);
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule() {
    if (this.scheduled || this.inFlight >= this.opts.maxInFlight || this.waiting.length === 0) return;
    this.scheduled = true;
    // After the current I/O callbacks: the writes of requests parsed in the same turn of the loop go together.
    // Detached: the callback must not inherit the context of whichever caller happened to schedule it.
    detachedFromHolder(() => setImmediate(() => {
      this.scheduled = false;
      this.drain();
    }));
  }

  private write(items: T[]): Promise<void> {
    const { db } = this.opts;
    return db ? serialised(db, () => this.flush(items)) : this.flush(items);
  }

  private drain() {
    while (this.inFlight < this.opts.maxInFlight && this.waiting.length > 0) {
      const batch = this.waiting.splice(0, this.opts.maxBatch);
      this.inFlight += 1;
      let settled: Promise<void>;
      try {
        settled = detachedFromHolder(() => this.write(batch.map((w) => w.item)));
      } catch (err) {
        settled = Promise.reject(err);
      }
      settled
        .then(
          () => batch.forEach((w) => w.resolve()),
          (err: unknown) => batch.forEach((w) => w.reject(err)),
        )
        .finally(() => {
          this.inFlight -= 1;
          this.schedule();
        });
    }
  }
}
