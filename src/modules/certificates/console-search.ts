import { Brackets, In } from 'typeorm';
import { type Deps } from '../../deps';
import { type CertificateBinding, CertificateBindingEntity } from '../binding/entities';
import { HandlerAuthorisationEntity, type HandlerAuthorisation } from '../handler-authorisation/entities';
import { orgKeyOf } from '../handler-authorisation/service';
import { type VerifiedHandler, VerifiedHandlerEntity } from '../handlers/entities';
import { type Certificate, CertificateEntity } from './entities';

/**
 * Search for the console's 证书 and 绑定与经办人 pages (issue 12): exact keys only — serial, 统一社会信用代码, 介质编号,
 * SHA-256 fingerprint, openid — plus an organisation-name prefix (MariaDB has no ngram parser; a prefix LIKE uses
 * the index migration 1766400000000 adds). Sandbox rows are shown, marked: operators see what holders see.
 */
export interface CertificateQuery {
  q?: string;
  org?: string;
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

export class ConsoleCertificateSearch {
  constructor(private readonly deps: Pick<Deps, 'db'>) {}

  async certificates(query: CertificateQuery, page: number, pageSize: number): Promise<{ rows: Certificate[]; total: number }> {
    const q = query.q?.trim();
    const org = query.org?.trim();
    if (!q && !org) return { rows: [], total: 0 };
    const qb = this.deps.db.manager.createQueryBuilder(CertificateEntity, 'c').select(['c.id', 'c.serialHex', 'c.organization', 'c.creditCode', 'c.commonName', 'c.mediaSerial',
      'c.project', 'c.certType', 'c.notBefore', 'c.notAfter', 'c.status', 'c.revokedAt', 'c.algorithm', 'c.usage', 'c.sandbox', 'c.fingerprintSha256', 'c.issuerDn', 'c.subjectDn', 'c.pairCertificateId']);
    if (q) {
      qb.where(new Brackets((w) => {
        w.where('c.serial_hex = :serial', { serial: q.toLowerCase().replace(/^0x/, '').replace(/:/g, '') })
          .orWhere('c.credit_code = :cc', { cc: q.toUpperCase() })
          .orWhere('c.media_serial = :q', { q })
          .orWhere('c.fingerprint_sha256 = :fp', { fp: q.toLowerCase().replace(/:/g, '') });
        if (/^\d{1,10}$/.test(q)) w.orWhere('c.id = :id', { id: Number(q) });
      }));
    }
    if (org) qb.andWhere('c.organization LIKE :org', { org: `${escapeLike(org)}%` });
    const [rows, total] = await qb.orderBy('c.id', 'DESC').skip((page - 1) * pageSize).take(pageSize).getManyAndCount();
    return { rows, total };
  }

  certificate(id: number): Promise<Certificate | null> {
    return this.deps.db.manager.findOne(CertificateEntity, { where: { id } });
  }

  /** Every binding (active and ended) of these certificates, or of one openid. */
  async bindings(where: { certificateIds?: number[]; openid?: string }): Promise<Array<CertificateBinding & { certificate: Certificate | null }>> {
    const em = this.deps.db.manager;
    const rows = where.openid
      ? await em.find(CertificateBindingEntity, { where: { openid: where.openid }, order: { active: 'DESC', boundAt: 'DESC' }, take: 200 })
      : where.certificateIds?.length ? await em.find(CertificateBindingEntity, { where: { certificateId: In(where.certificateIds) }, order: { active: 'DESC', boundAt: 'DESC' }, take: 200 }) : [];
    const certs = rows.length ? await em.find(CertificateEntity, { where: { id: In([...new Set(rows.map((r) => r.certificateId))]) } }) : [];
    return rows.map((b) => ({ ...b, certificate: certs.find((c) => c.id === b.certificateId) ?? null }));
  }

  /** The verified handler of an openid (masked name and ID number only) and the 经办人授权 of the organisations involved. */
  async handlers(openids: string[], certs: Certificate[]): Promise<{ verified: VerifiedHandler[]; authorisations: HandlerAuthorisation[] }> {
    const em = this.deps.db.manager;
    const verified = openids.length ? await em.find(VerifiedHandlerEntity, { where: { openid: In(openids) }, select: ['id', 'openid', 'nameMasked', 'idNumberMasked', 'method', 'verifiedAt', 'sandbox'] }) : [];
    const orgKeys = [...new Set(certs.map((c) => orgKeyOf(c)))];
    const authorisations = orgKeys.length ? await em.find(HandlerAuthorisationEntity, { where: { orgKey: In(orgKeys) }, order: { requestedAt: 'DESC' }, take: 200 }) : [];
    return { verified, authorisations };
  }
}
