import { type EntityManager, In } from 'typeorm';
import { type Certificate, CertificateEntity, type CertificateReview, CertificateReviewEntity } from './entities';

export type NewCertificate = Omit<Certificate, 'id' | 'createdAt' | 'updatedAt' | 'status' | 'revokedAt' | 'supersededById' | 'pairCertificateId'>
  & Partial<Pick<Certificate, 'status' | 'revokedAt' | 'pairCertificateId'>>;

/** Certificates and the operator review queue. Every method takes the manager, so a service can run several in one transaction. */
export class CertificateRepository {
  findById(em: EntityManager, id: number): Promise<Certificate | null> {
    return em.findOne(CertificateEntity, { where: { id } });
  }

  findByFingerprint(em: EntityManager, fingerprintSha256: string): Promise<Certificate | null> {
    return em.findOne(CertificateEntity, { where: { fingerprintSha256 } });
  }

  findBySerial(em: EntityManager, serialHex: string): Promise<Certificate[]> {
    return em.find(CertificateEntity, { where: { serialHex: serialHex.toLowerCase() } });
  }

  findByMediaSerial(em: EntityManager, mediaSerial: string): Promise<Certificate[]> {
    return em.find(CertificateEntity, { where: { mediaSerial } });
  }

  findByIds(em: EntityManager, ids: number[]): Promise<Certificate[]> {
    return ids.length ? em.find(CertificateEntity, { where: { id: In(ids) } }) : Promise.resolve([]);
  }

  /**
   * Records a certificate once. Two handlers presenting the same new certificate at once both end with the
   * same row: the unique fingerprint decides, and the loser reads the winner's row.
   */
  async insertOnce(em: EntityManager, cert: NewCertificate, at: Date): Promise<Certificate> {
    const existing = await this.findByFingerprint(em, cert.fingerprintSha256);
    if (existing) return existing;
    try {
      // insert, not save: save opens a transaction of its own, which on SQLite would not be serialised (transaction.ts).
      const row = { status: 'valid', revokedAt: null, supersededById: null, pairCertificateId: null, ...cert, createdAt: at, updatedAt: at } as Certificate;
      const result = await em.insert(CertificateEntity, row);
      return { ...row, id: Number(result.identifiers[0].id) };
    } catch (err) {
      const winner = await this.findByFingerprint(em, cert.fingerprintSha256).catch(() => null);
      if (winner) return winner;
      throw err;
    }
  }

  /** The key agent reports the media serial the certificate sits on; it may change when a key is re-issued. */
  async updateMediaSerial(em: EntityManager, id: number, mediaSerial: string, at: Date): Promise<void> {
    await em.update(CertificateEntity, { id }, { mediaSerial, updatedAt: at });
  }

  async markRevoked(em: EntityManager, id: number, at: Date): Promise<void> {
    await em.update(CertificateEntity, { id }, { status: 'revoked', revokedAt: at, updatedAt: at });
  }

  /** Queues an unclassifiable certificate for an operator; seeing it again only counts. */
  async queueForReview(em: EntityManager, review: Omit<CertificateReview, 'id' | 'status' | 'seenCount' | 'firstSeenAt' | 'lastSeenAt'>, at: Date): Promise<void> {
    const existing = await em.findOne(CertificateReviewEntity, { where: { fingerprintSha256: review.fingerprintSha256 } });
    if (existing) {
      await em.increment(CertificateReviewEntity, { id: existing.id }, 'seenCount', 1);
      await em.update(CertificateReviewEntity, { id: existing.id }, { lastSeenAt: at });
      return;
    }
    try {
      await em.insert(CertificateReviewEntity, { ...review, status: 'pending', seenCount: 1, firstSeenAt: at, lastSeenAt: at });
    } catch (err) {
      // Someone queued it at the same moment: one row is all the operator needs.
      if (!(await em.findOne(CertificateReviewEntity, { where: { fingerprintSha256: review.fingerprintSha256 } }))) throw err;
    }
  }

  pendingReviews(em: EntityManager): Promise<CertificateReview[]> {
    return em.find(CertificateReviewEntity, { where: { status: 'pending' }, order: { firstSeenAt: 'ASC' } });
  }

  /** The operator added a rule (or decided otherwise): the holder can present the certificate again. */
  async resolveReview(em: EntityManager, id: number): Promise<boolean> {
    const result = await em.update(CertificateReviewEntity, { id, status: 'pending' }, { status: 'resolved' });
    return (result.affected ?? 0) > 0;
  }
}
