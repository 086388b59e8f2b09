import { type EntityManager, In, LessThanOrEqual } from 'typeorm';
import {
  type DocumentAccess, DocumentAccessEntity, type DocumentFile, DocumentFileEntity, type DocumentSubmission, DocumentSubmissionEntity,
} from './entities';

type Visibility = { includeSandbox: boolean };
const visible = (opts: Visibility) => (opts.includeSandbox ? {} : { sandbox: false });

/** Submissions, their sealed files and the access trail. Every method takes the EntityManager (one transaction per service call). */
export class HandlerDocumentRepository {
  async insertSubmission(em: EntityManager, row: Omit<DocumentSubmission, 'id'>): Promise<DocumentSubmission> {
    const result = await em.insert(DocumentSubmissionEntity, row);
    return { ...row, id: Number(result.identifiers[0]!.id) };
  }

  /** One insert per file: each statement stays well under MySQL's max_allowed_packet. */
  async insertFiles(em: EntityManager, files: Omit<DocumentFile, 'id'>[]): Promise<void> {
    for (const file of files) await em.insert(DocumentFileEntity, file);
  }

  latestOf(em: EntityManager, openid: string, opts: Visibility): Promise<DocumentSubmission | null> {
    return em.findOne(DocumentSubmissionEntity, { where: { openid, ...visible(opts) }, order: { createdAt: 'DESC', id: 'DESC' } });
  }

  byId(em: EntityManager, id: number, opts: Visibility & { lock?: boolean }): Promise<DocumentSubmission | null> {
    return em.findOne(DocumentSubmissionEntity, { where: { id, ...visible(opts) }, lock: opts.lock ? lockFor(em) : undefined });
  }

  pending(em: EntityManager, opts: Visibility): Promise<DocumentSubmission[]> {
    return em.find(DocumentSubmissionEntity, { where: { state: 'PENDING', ...visible(opts) }, order: { createdAt: 'ASC', id: 'ASC' }, take: 200 });
  }

  filesOf(em: EntityManager, submissionId: number): Promise<DocumentFile[]> {
    return em.find(DocumentFileEntity, { where: { submissionId }, order: { id: 'ASC' } });
  }

  /** PENDING → APPROVED/REJECTED; false when another reviewer got there first. */
  async review(em: EntityManager, id: number, change: Pick<DocumentSubmission, 'state' | 'reviewer' | 'reason' | 'reviewedAt' | 'purgeAfter'>): Promise<boolean> {
    const result = await em.update(DocumentSubmissionEntity, { id, state: 'PENDING' }, { ...change, pendingKey: null });
    return (result.affected ?? 0) > 0;
  }

  async recordAccess(em: EntityManager, row: Omit<DocumentAccess, 'id'>): Promise<void> {
    await em.insert(DocumentAccessEntity, row);
  }

  accessesOf(em: EntityManager, submissionId: number): Promise<DocumentAccess[]> {
    return em.find(DocumentAccessEntity, { where: { submissionId }, order: { id: 'ASC' } });
  }

  /** Deletes expired submissions with their files and access trail, a page at a time (a long purge holds no huge lock). */
  async purgeExpired(em: EntityManager, now: Date, pageSize = 100): Promise<{ submissions: number; files: number } | null> {
    const expired = await em.find(DocumentSubmissionEntity, { select: { id: true }, where: { purgeAfter: LessThanOrEqual(now) }, take: pageSize, order: { id: 'ASC' } });
    if (!expired.length) return null;
    const ids = expired.map((s) => s.id);
    const files = await em.delete(DocumentFileEntity, { submissionId: In(ids) });
    await em.delete(DocumentAccessEntity, { submissionId: In(ids) });
    const submissions = await em.delete(DocumentSubmissionEntity, { id: In(ids) });
    return { submissions: submissions.affected ?? 0, files: files.affected ?? 0 };
  }
}

/** SQLite has no row locks (its transactions are serialized in this process anyway). */
function lockFor(em: EntityManager): { mode: 'pessimistic_write' } | undefined {
  return em.connection.options.type === 'mysql' ? { mode: 'pessimistic_write' } : undefined;
}
