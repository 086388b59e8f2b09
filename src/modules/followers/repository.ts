import { type DataSource, type EntityManager, In } from 'typeorm';
import { dialectOf, retryTransient, utcDatetime } from '../../lib/db/sql';
import { type Follower, FollowerEntity } from './entities';

export type FollowChange =
  | { kind: 'subscribe'; scene: string | null }
  | { kind: 'scan'; scene: string | null }
  | { kind: 'unsubscribe' };

export interface FollowerWrite {
  openid: string;
  change: FollowChange;
  at: Date;
}

/** What each change does to an existing row (the insert half is the same for all). */
const ON_EXISTING: Record<FollowChange['kind'], string[]> = {
  // A (re-)follow owes the legacy-binding restore: marked in this same statement, cleared by the restore pass.
  subscribe: ['subscribed = 1', 'restore_owed = 1', 'first_scene = COALESCE(first_scene, :scene)', 'last_scene = COALESCE(:scene, last_scene)', 'subscribed_at = :at', 'unsubscribed_at = NULL', 'updated_at = :at'],
  scan: ['subscribed = 1', 'first_scene = COALESCE(first_scene, :scene)', 'last_scene = COALESCE(:scene, last_scene)', 'updated_at = :at'],
  unsubscribe: ['subscribed = 0', 'unsubscribed_at = :at', 'updated_at = :at'],
};

/**
 * Followers. Recording a follow is one upsert statement: it sits on the webhook's 5 s path, and a read-then-write
 * (or update-then-insert) pair both costs round trips and deadlocks on InnoDB's gap locks when new followers
 * arrive together.
 */
export class FollowerRepository {
  apply(db: DataSource | EntityManager, openid: string, change: FollowChange, at: Date, sandbox: boolean): Promise<void> {
    return this.applyMany(db, [{ openid, change, at }], sandbox);
  }

  /**
   * Several changes, in order, in one statement per run of the same kind (a multi-row upsert applies its rows one
   * after another, so two changes of one openid in a batch end as the later one says).
   */
  async applyMany(db: DataSource | EntityManager, changes: FollowerWrite[], sandbox: boolean): Promise<void> {
    for (let start = 0; start < changes.length; ) {
      let end = start + 1;
      while (end < changes.length && changes[end].change.kind === changes[start].change.kind) end++;
      await this.upsert(db, changes.slice(start, end), sandbox);
      start = end;
    }
  }

  private async upsert(db: DataSource | EntityManager, rows: FollowerWrite[], sandbox: boolean): Promise<void> {
    const dialect = dialectOf(db);
    const kind = rows[0].change.kind;
    const values: unknown[] = [];
    for (const { openid, change, at } of rows) {
      const scene = change.kind === 'unsubscribe' ? null : change.scene;
      const when = utcDatetime(at);
      const following = change.kind === 'unsubscribe' ? 0 : 1;
      values.push(openid, following, scene, scene, following ? when : null, following ? null : when, sandbox ? 1 : 0, change.kind === 'subscribe' ? 1 : 0, when, when);
    }
    // Named placeholders in ON_EXISTING become the dialect's own way to refer to the values being inserted.
    const existing = ON_EXISTING[kind]
      .join(', ')
      .replace(/:scene/g, dialect === 'mysql' ? 'VALUES(last_scene)' : 'excluded.last_scene')
      .replace(/:at/g, dialect === 'mysql' ? 'VALUES(updated_at)' : 'excluded.updated_at');
    const sql =
      `INSERT INTO followers (openid, subscribed, first_scene, last_scene, subscribed_at, unsubscribed_at, sandbox, restore_owed, created_at, updated_at) VALUES ${rows.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')} ` +
      (dialect === 'mysql' ? `ON DUPLICATE KEY UPDATE ${existing}` : `ON CONFLICT (openid) DO UPDATE SET ${existing}`);
    await retryTransient(() => db.query(sql, values));
  }

  /** Followers owed a legacy-binding restore, oldest first (the restore pass takes them in pages). */
  async owedRestores(em: EntityManager, limit: number): Promise<string[]> {
    const rows = await em.find(FollowerEntity, { select: { openid: true }, where: { restoreOwed: true }, order: { updatedAt: 'ASC', id: 'ASC' }, take: limit });
    return rows.map((r) => r.openid);
  }

  /**
   * Clears the mark once the restore ran. A follow recorded meanwhile is cleared too: the restore it owes reads
   * the same legacy rows and ran after that follow was requested, so it has nothing more to do.
   */
  async clearOwedRestores(em: EntityManager, openids: string[]): Promise<void> {
    if (openids.length) await em.update(FollowerEntity, { openid: In(openids) }, { restoreOwed: false });
  }

  findByOpenid(em: EntityManager, openid: string, opts: { includeSandbox: boolean }): Promise<Follower | null> {
    return em.findOne(FollowerEntity, { where: opts.includeSandbox ? { openid } : { openid, sandbox: false } });
  }
}
