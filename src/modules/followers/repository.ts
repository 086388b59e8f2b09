import { type EntityManager, QueryFailedError } from 'typeorm';
import { type Follower, FollowerEntity, type FollowerEvent, FollowerEventEntity } from './entities';

export type FollowChange =
  | { kind: 'subscribe'; scene: string | null }
  | { kind: 'scan'; scene: string | null }
  | { kind: 'unsubscribe' };

function isDuplicateKey(err: unknown): boolean {
  const e = err as { code?: string; driverError?: { code?: string } };
  const code = e.driverError?.code ?? e.code;
  return err instanceof QueryFailedError && (code === 'ER_DUP_ENTRY' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT');
}

/** Followers and their history. Every method takes the caller's EntityManager so services own the transaction. */
export class FollowerRepository {
  /** Applies a follow/scan/unfollow to the follower row (creating it if needed) and appends the event. */
  async apply(em: EntityManager, openid: string, change: FollowChange, at: Date, sandbox: boolean): Promise<void> {
    const scene = change.kind === 'unsubscribe' ? null : change.scene;
    const update: Partial<Follower> =
      change.kind === 'subscribe'
        ? { subscribed: true, subscribedAt: at, unsubscribedAt: null, updatedAt: at, ...(scene ? { lastScene: scene } : {}) }
        : change.kind === 'scan'
          ? { subscribed: true, updatedAt: at, ...(scene ? { lastScene: scene } : {}) }
          : { subscribed: false, unsubscribedAt: at, updatedAt: at };

    // Update first: after the first follow this is the common case, and it needs no read.
    for (let attempt = 0; attempt < 2; attempt++) {
      const updated = await em.update(FollowerEntity, { openid }, update);
      if (updated.affected) break;
      try {
        await em.insert(FollowerEntity, {
          openid,
          unionid: null,
          subscribed: change.kind !== 'unsubscribe',
          firstScene: scene,
          lastScene: scene,
          subscribedAt: change.kind === 'unsubscribe' ? null : at,
          unsubscribedAt: change.kind === 'unsubscribe' ? at : null,
          sandbox,
          createdAt: at,
          updatedAt: at,
        });
        break;
      } catch (err) {
        // Another request created the row between our update and insert: update it instead.
        if (!isDuplicateKey(err) || attempt > 0) throw err;
      }
    }
    const event: Omit<FollowerEvent, 'id'> = { openid, event: change.kind, scene, occurredAt: at, sandbox };
    await em.insert(FollowerEventEntity, event);
  }

  findByOpenid(em: EntityManager, openid: string, opts: { includeSandbox: boolean }): Promise<Follower | null> {
    return em.findOne(FollowerEntity, { where: opts.includeSandbox ? { openid } : { openid, sandbox: false } });
  }
}
