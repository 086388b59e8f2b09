import { type EntityManager } from 'typeorm';
import { type Certificate, CertificateEntity } from '../certificates/entities';
import { type BindingSource, type CertificateBinding, CertificateBindingEntity } from './entities';

export interface BindResult {
  binding: CertificateBinding;
  /** False when this openid already had an active binding to the certificate (nothing changed). */
  created: boolean;
}

/**
 * Who is bound to which certificate. Binding is idempotent per (certificate, openid): the unique constraint
 * is the arbiter, and an unbound row is re-activated rather than duplicated.
 */
export class BindingRepository {
  async bind(em: EntityManager, input: { certificateId: number; openid: string; unionid?: string | null; source: BindingSource; sandbox: boolean }, at: Date): Promise<BindResult> {
    const existing = await em.findOne(CertificateBindingEntity, { where: { certificateId: input.certificateId, openid: input.openid } });
    if (existing?.active) return { binding: existing, created: false };
    if (existing) {
      await em.update(CertificateBindingEntity, { id: existing.id }, {
        active: true, source: input.source, boundAt: at, unboundAt: null, unionid: input.unionid ?? existing.unionid, updatedAt: at,
      });
      return { binding: { ...existing, active: true, source: input.source, boundAt: at, unboundAt: null, updatedAt: at }, created: true };
    }
    const row: Omit<CertificateBinding, 'id'> = {
      certificateId: input.certificateId, openid: input.openid, unionid: input.unionid ?? null, source: input.source,
      active: true, boundAt: at, unboundAt: null, sandbox: input.sandbox, createdAt: at, updatedAt: at,
    };
    const result = await em.insert(CertificateBindingEntity, row);
    return { binding: { ...row, id: Number(result.identifiers[0].id) }, created: true };
  }

  /** Returns false when there was no active binding (already unbound, or never bound: both end the same). */
  async unbind(em: EntityManager, certificateId: number, openid: string, at: Date): Promise<boolean> {
    const result = await em.update(CertificateBindingEntity, { certificateId, openid, active: true }, { active: false, unboundAt: at, updatedAt: at });
    return (result.affected ?? 0) > 0;
  }

  findActive(em: EntityManager, certificateId: number, openid: string): Promise<CertificateBinding | null> {
    return em.findOne(CertificateBindingEntity, { where: { certificateId, openid, active: true } });
  }

  /** Every certificate bound to this openid, newest expiry first. Sandbox rows only when the caller allows them. */
  async certificatesOf(em: EntityManager, openid: string, opts: { includeSandbox: boolean }): Promise<Array<{ certificate: Certificate; binding: CertificateBinding }>> {
    const qb = em.createQueryBuilder()
      .select('b').from(CertificateBindingEntity, 'b')
      .where('b.openid = :openid AND b.active = :active', { openid, active: true });
    if (!opts.includeSandbox) qb.andWhere('b.sandbox = :sandbox', { sandbox: false });
    const bindings = await qb.getMany();
    if (!bindings.length) return [];
    const certs = await em.createQueryBuilder().select('c').from(CertificateEntity, 'c').whereInIds(bindings.map((b) => b.certificateId)).getMany();
    const byId = new Map(certs.map((c) => [c.id, c]));
    return bindings
      .filter((b) => byId.has(b.certificateId))
      .map((b) => ({ certificate: byId.get(b.certificateId)!, binding: b }))
      .sort((a, b) => b.certificate.notAfter.getTime() - a.certificate.notAfter.getTime());
  }

  /** The handlers of one certificate (for notices and the operator console). */
  handlersOf(em: EntityManager, certificateId: number): Promise<CertificateBinding[]> {
    return em.find(CertificateBindingEntity, { where: { certificateId, active: true }, order: { boundAt: 'ASC' } });
  }
}
