import { type DataSource, type EntityManager, In, LessThan } from 'typeorm';
import { dialectOf, isUniqueViolation, retryTransient, utcDatetime } from '../../lib/db/sql';
import { CertificateBindingEntity } from '../binding/entities';
import { type Certificate, CertificateEntity } from '../certificates/entities';
import { type ExpiryReminder, ExpiryReminderEntity, type ReminderKind, type TemplateSendReport, TemplateSendReportEntity } from './entities';

export interface DueRecipient { certificate: Certificate; openid: string }

/** The reminder rows and the delivery reports. */
export class ReminderRepository {
  /** Valid certificates expiring in [from, to) with their active bindings (the run asks for the next 31 China days). */
  async dueRecipients(em: EntityManager, from: Date, to: Date, opts: { includeSandbox: boolean }): Promise<DueRecipient[]> {
    const qb = em.createQueryBuilder().select('c').from(CertificateEntity, 'c')
      .where('c.status = :status AND c.notAfter >= :from AND c.notAfter < :to', { status: 'valid', from, to });
    if (!opts.includeSandbox) qb.andWhere('c.sandbox = :sandbox', { sandbox: false });
    const certs = await qb.orderBy('c.notAfter', 'ASC').getMany();
    if (!certs.length) return [];
    const bindings = await em.find(CertificateBindingEntity, { where: { certificateId: In(certs.map((c) => c.id)), active: true }, order: { id: 'ASC' } });
    const byId = new Map(certs.map((c) => [c.id, c]));
    return bindings.filter((b) => opts.includeSandbox || !b.sandbox).map((b) => ({ certificate: byId.get(b.certificateId)!, openid: b.openid }));
  }

  /**
   * The claim, committed before anything is sent: the unique (certificate, threshold, openid) key lets one run on
   * one instance have it. Returns the row, or null when it was claimed before (by this run's twin, or an earlier day).
   */
  async claim(db: DataSource, row: { certificateId: number; thresholdDays: number; openid: string; kind: ReminderKind; notAfter: Date; at: Date; sandbox: boolean }): Promise<ExpiryReminder | null> {
    try {
      return await db.getRepository(ExpiryReminderEntity).save({
        certificateId: row.certificateId, thresholdDays: row.thresholdDays, openid: row.openid, kind: row.kind, channel: null, state: 'claimed',
        msgid: null, detail: null, notAfter: row.notAfter, attempts: 0, claimedAt: row.at, settledAt: null, sandbox: row.sandbox,
      });
    } catch (err) {
      if (isUniqueViolation(err)) return null;
      throw err;
    }
  }

  /** Rows a run claimed but never settled (it died, or every channel failed retryably), claimed before `before`. */
  staleClaims(db: DataSource, before: Date, limit: number): Promise<ExpiryReminder[]> {
    return db.getRepository(ExpiryReminderEntity).find({ where: { state: 'claimed', claimedAt: LessThan(before) }, order: { id: 'ASC' }, take: limit });
  }

  /** Takes the row for one attempt (another instance retrying the same stale row gets false). */
  async startAttempt(db: DataSource, row: ExpiryReminder): Promise<boolean> {
    const res = await db.getRepository(ExpiryReminderEntity).update({ id: row.id, state: 'claimed', attempts: row.attempts }, { attempts: row.attempts + 1 });
    return res.affected === 1;
  }

  async settle(db: DataSource, id: number, patch: Pick<ExpiryReminder, 'state' | 'channel' | 'msgid' | 'detail' | 'settledAt'> & { kind?: ReminderKind }): Promise<void> {
    await db.getRepository(ExpiryReminderEntity).update({ id, state: 'claimed' }, patch);
  }

  /** TEMPLATESENDJOBFINISH reports, many in one statement; a repeated report (WeChat retries) keeps the first. */
  async recordReports(db: DataSource, reports: Array<Omit<TemplateSendReport, 'id'>>): Promise<void> {
    if (!reports.length) return;
    const verb = dialectOf(db) === 'mysql' ? 'INSERT IGNORE' : 'INSERT OR IGNORE';
    const values = reports.flatMap((r) => [r.msgid, r.status, utcDatetime(r.reportedAt)]);
    await retryTransient(() => db.query(`${verb} INTO template_send_reports (msgid, status, reported_at) VALUES ${reports.map(() => '(?, ?, ?)').join(', ')}`, values));
  }

  reportOf(em: EntityManager, msgid: string): Promise<TemplateSendReport | null> {
    return em.findOne(TemplateSendReportEntity, { where: { msgid } });
  }
}
