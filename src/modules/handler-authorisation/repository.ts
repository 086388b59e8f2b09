import { type EntityManager, In, LessThan, LessThanOrEqual } from 'typeorm';
import { CertificateEntity } from '../certificates/entities';
import { DocumentSubmissionEntity } from '../handler-documents/entities';
import { HandlerAttemptEntity, VerifiedHandlerEntity } from '../handlers/entities';
import { type AuthorisationState, type HandlerAuthorisation, HandlerAuthorisationEntity } from './entities';

export type NewAuthorisation = Omit<HandlerAuthorisation, 'id' | 'createdAt' | 'updatedAt'>;

/** Authorisation rows, the registered handler of a certificate, and retention. Every method takes the manager. */
export class HandlerAuthorisationRepository {
  findPerson(em: EntityManager, orgKey: string, sandbox: boolean, idNumberIndex: string): Promise<HandlerAuthorisation | null> {
    return em.findOne(HandlerAuthorisationEntity, { where: { orgKey, sandbox, idNumberIndex } });
  }

  /** Whether anyone may already act for the organisation (then a newcomer needs an operator). */
  async hasApproved(em: EntityManager, orgKey: string, sandbox: boolean): Promise<boolean> {
    return (await em.count(HandlerAuthorisationEntity, { where: { orgKey, sandbox, state: 'APPROVED' } })) > 0;
  }

  /** May fail with a unique violation: a concurrent claim (the same person, or another "first") won. */
  async insert(em: EntityManager, row: NewAuthorisation, at: Date): Promise<HandlerAuthorisation> {
    const full = { ...row, createdAt: at, updatedAt: at };
    const result = await em.insert(HandlerAuthorisationEntity, full);
    return { ...full, id: Number(result.identifiers[0]!.id) };
  }

  findById(em: EntityManager, id: number): Promise<HandlerAuthorisation | null> {
    return em.findOne(HandlerAuthorisationEntity, { where: { id } });
  }

  listByState(em: EntityManager, state: AuthorisationState, limit = 200): Promise<HandlerAuthorisation[]> {
    return em.find(HandlerAuthorisationEntity, { where: { state }, order: { requestedAt: 'ASC', id: 'ASC' }, take: limit });
  }

  /**
   * An operator's decision, guarded by the states it may come from so two operators deciding at once change the
   * row once. Leaving APPROVED also frees the 'first' slot: the organisation has no recorded handler any more.
   */
  async decide(em: EntityManager, id: number, from: AuthorisationState[], change: { state: AuthorisationState; decidedBy: string; reason: string | null }, at: Date): Promise<boolean> {
    const patch: Partial<HandlerAuthorisation> = { ...change, decidedAt: at, updatedAt: at };
    if (change.state !== 'APPROVED') patch.firstSlot = null;
    const result = await em.update(HandlerAuthorisationEntity, { id, state: In(from) }, patch);
    return (result.affected ?? 0) > 0;
  }

  /** Moves purge dates forward only (never shortens what another certificate required). */
  async extendRetention(em: EntityManager, target: { handlerId: number; attemptId: number | null; submissionId: number | null; idNumberIndex: string; orgKeys: string[]; sandbox: boolean }, until: Date): Promise<void> {
    await em.update(VerifiedHandlerEntity, { id: target.handlerId, purgeAfter: LessThan(until) }, { purgeAfter: until });
    // The evidence the handler was verified with follows the handler: the passing liveness attempt, or the
    // approved document submission (its images are the evidence an auditor would ask for).
    if (target.attemptId !== null) await em.update(HandlerAttemptEntity, { id: target.attemptId, purgeAfter: LessThan(until) }, { purgeAfter: until });
    if (target.submissionId !== null) await em.update(DocumentSubmissionEntity, { id: target.submissionId, state: 'APPROVED', purgeAfter: LessThan(until) }, { purgeAfter: until });
    if (target.orgKeys.length) {
      await em.update(HandlerAuthorisationEntity, { orgKey: In(target.orgKeys), sandbox: target.sandbox, idNumberIndex: target.idNumberIndex, purgeAfter: LessThan(until) }, { purgeAfter: until });
    }
  }

  async setRegisteredHandler(em: EntityManager, certificateId: number, index: string | null, at: Date): Promise<boolean> {
    const result = await em.update(CertificateEntity, { id: certificateId }, { registeredHandlerIndex: index, updatedAt: at });
    return (result.affected ?? 0) > 0;
  }

  async purgeExpired(em: EntityManager, now: Date): Promise<number> {
    return (await em.delete(HandlerAuthorisationEntity, { purgeAfter: LessThanOrEqual(now) })).affected ?? 0;
  }
}
