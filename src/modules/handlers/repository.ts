import { type EntityManager, LessThanOrEqual } from 'typeorm';
import { type HandlerAttempt, HandlerAttemptEntity, type VerifiedHandler, VerifiedHandlerEntity } from './entities';

/** Attempts and verified handlers. Every method takes the EntityManager so a service can run several in one transaction. */
export class HandlerRepository {
  async insertAttempt(em: EntityManager, row: Omit<HandlerAttempt, 'id'>): Promise<HandlerAttempt> {
    const result = await em.insert(HandlerAttemptEntity, row);
    return { ...row, id: Number(result.identifiers[0]!.id) };
  }

  attemptByReference(em: EntityManager, reference: string): Promise<HandlerAttempt | null> {
    return em.findOne(HandlerAttemptEntity, { where: { reference } });
  }

  async setBizToken(em: EntityManager, id: number, bizToken: string): Promise<void> {
    await em.update(HandlerAttemptEntity, { id, state: 'STARTED' }, { bizToken });
  }

  /** Moves a STARTED attempt to its verdict; false when it had one already (a concurrent callback won). */
  async finishAttempt(em: EntityManager, id: number, change: { state: 'PASSED' | 'FAILED'; refusal: string | null; finishedAt: Date; purgeAfter: Date }): Promise<boolean> {
    const result = await em.update(HandlerAttemptEntity, { id, state: 'STARTED' }, change);
    return (result.affected ?? 0) > 0;
  }

  verifiedOf(em: EntityManager, openid: string): Promise<VerifiedHandler | null> {
    return em.findOne(VerifiedHandlerEntity, { where: { openid } });
  }

  /** One row per openid: a later verification (another person taking over the account) replaces the earlier one. */
  async upsertVerified(em: EntityManager, row: Omit<VerifiedHandler, 'id' | 'createdAt' | 'updatedAt'>, at: Date): Promise<VerifiedHandler> {
    const existing = await em.findOne(VerifiedHandlerEntity, { where: { openid: row.openid }, lock: lockFor(em) });
    if (existing) {
      await em.update(VerifiedHandlerEntity, { id: existing.id }, { ...row, updatedAt: at });
      return { ...existing, ...row, updatedAt: at };
    }
    const full = { ...row, createdAt: at, updatedAt: at };
    const result = await em.insert(VerifiedHandlerEntity, full);
    return { ...full, id: Number(result.identifiers[0]!.id) };
  }

  async purgeExpired(em: EntityManager, now: Date): Promise<{ attempts: number; handlers: number }> {
    const handlers = await em.delete(VerifiedHandlerEntity, { purgeAfter: LessThanOrEqual(now) });
    const attempts = await em.delete(HandlerAttemptEntity, { purgeAfter: LessThanOrEqual(now) });
    return { attempts: attempts.affected ?? 0, handlers: handlers.affected ?? 0 };
  }
}

/** SQLite has no row locks (its transactions are serialized in this process anyway). */
function lockFor(em: EntityManager): { mode: 'pessimistic_write' } | undefined {
  return em.connection.options.type === 'mysql' ? { mode: 'pessimistic_write' } : undefined;
}
