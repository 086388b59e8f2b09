import { type EntityManager, In, IsNull, LessThan, Not } from 'typeorm';
import { type Deps } from '../../deps';
import { inTransaction } from '../../lib/db/transaction';
import { parseCertificate } from '../../lib/pki/certificate';
import { canonicalSerial } from '../../providers/ca/sandbox-support';
import { CertificateBindingEntity } from '../binding/entities';
import { BindingRepository } from '../binding/repository';
import { type Certificate, CertificateEntity } from '../certificates/entities';
import { CertificateRepository } from '../certificates/repository';
import { HandlerAuthorisationService } from '../handler-authorisation/service';
import { HandlerRepository } from '../handlers/repository';
import { enqueueOwedNotice, NoticeOutbox, type OwedNotice } from '../notices/outbox';
import { OrderLineEntity } from '../orders/entities';
import { OrderRepository } from '../orders/repository';
import { type Renewal, RenewalEntity, type RenewalIssuance, RenewalIssuanceEntity } from './entities';
import { type PcSession } from './pc-session';
import { RenewalError } from './schemas';
import { type RenewalService } from './service';

export const CERT_RENEWED_NOTICE_JOB = 'renewals.renewed-notice';
/** 证书续期成功, owed from the INSTALLED commit (sent by notices.ts); one per renewal (client_msg_id). */
export const certRenewedNotice = (renewalId: number): OwedNotice => ({ key: `renewed-${renewalId}`, job: CERT_RENEWED_NOTICE_JOB, payload: { renewalId } });

const DAY_MS = 86_400_000;

/**
 * INSTALLED, in one transaction: the issuance becomes the installed one (unique: one per renewal), the new
 * certificate(s) are recorded, the WeChat bindings move to the new certificate, the old one (both of an SM2 pair)
 * is marked superseded, the order becomes FULFILLED when every line is renewed, the handler's records are kept
 * until the new expiry + 5 years, and 证书续期成功 is owed (outbox). Sent after the commit; idempotent.
 */
export class RenewalInstaller {
  private readonly certs = new CertificateRepository();
  private readonly bindings = new BindingRepository();
  private readonly orders = new OrderRepository();

  constructor(private readonly deps: Deps, private readonly renewals: RenewalService) {}

  async installed(id: number, session: PcSession, serialHex: string, at: Date): Promise<{ state: 'INSTALLED'; serialHex: string; notAfter: string }> {
    const renewal = await this.renewals.renewal(id);
    const serial = canonicalSerial(serialHex);
    const issuances = await this.deps.db.getRepository(RenewalIssuanceEntity).findBy({ renewalId: id });
    const issuance = issuances.find((i) => canonicalSerial(i.serialHex) === serial);
    if (!issuance || issuance.state === 'REPLACED') throw new RenewalError('SERIAL_UNKNOWN', '该证书不是本次续期签发的最新证书，请刷新页面后重试', `renewal ${id}: serial ${serial} is not its current issuance`);
    if (issuance.state === 'INSTALLED') return { state: 'INSTALLED', serialHex: issuance.serialHex, notAfter: issuance.notAfter.toISOString() };
    if (renewal.challengeSession !== session.binding) {
      throw new RenewalError('RENEWAL_RUNNING', '请在发起续期的页面完成操作，或刷新本页后重新点击“续期”', `renewal ${id}: installed reported by another PC session`);
    }
    const replaced = await inTransaction(this.deps.db, (em) => this.commit(em, renewal, issuance, at));
    if (replaced) {
      await enqueueOwedNotice(this.deps, certRenewedNotice(id)).catch((err) => this.deps.logger.warn({ err, renewalId: id }, 'could not queue 证书续期成功; the outbox pass retries'));
      await this.renewals.audit.record({ renewalId: id, step: 'installed', detail: { serial: issuance.serialHex, encSerial: issuance.encSerialHex, oldCertificateId: renewal.certificateId } });
      await this.renewals.revokeReplaced(id, replaced);
    }
    return { state: 'INSTALLED', serialHex: issuance.serialHex, notAfter: issuance.notAfter.toISOString() };
  }

  /** Returns the other uninstalled issuances (to revoke after the commit), or null when another call installed first. */
  private async commit(em: EntityManager, renewal: Renewal, issuance: RenewalIssuance, at: Date): Promise<RenewalIssuance[] | null> {
    const moved = await em.update(RenewalIssuanceEntity, { id: issuance.id, state: 'ISSUED' }, { state: 'INSTALLED', installedKey: String(renewal.id), updatedAt: at });
    if (!moved.affected) return null;
    const others = await em.find(RenewalIssuanceEntity, { where: { renewalId: renewal.id, state: 'ISSUED', id: Not(issuance.id) } });
    if (others.length) await em.update(RenewalIssuanceEntity, { id: In(others.map((o) => o.id)) }, { state: 'REPLACED', updatedAt: at });

    const old = await this.certs.findById(em, renewal.certificateId);
    if (!old) throw new Error(`renewal ${renewal.id}: certificate ${renewal.certificateId} vanished`);
    const signing = await this.recordCertificate(em, old, issuance.certificatePem, issuance.mediaSerial, at);
    if (issuance.encCertificatePem) {
      const enc = await this.recordCertificate(em, old, issuance.encCertificatePem, issuance.mediaSerial, at, signing.id);
      await em.update(CertificateEntity, { id: signing.id }, { pairCertificateId: enc.id });
    }
    // The old certificate and its SM2 twin (either side may point at the other).
    const oldPair = await em.find(CertificateEntity, { where: [{ id: old.id }, { pairCertificateId: old.id }, ...(old.pairCertificateId ? [{ id: old.pairCertificateId }] : [])] });
    await em.update(CertificateEntity, { id: In(oldPair.map((c) => c.id)), status: 'valid' }, { status: 'superseded', supersededById: signing.id, updatedAt: at });

    for (const b of await em.find(CertificateBindingEntity, { where: { certificateId: old.id, active: true } })) {
      await this.bindings.bind(em, { certificateId: signing.id, openid: b.openid, unionid: b.unionid, source: 'renewal', sandbox: b.sandbox }, at);
    }
    await em.update(RenewalEntity, { id: renewal.id }, { state: 'INSTALLED', newCertificateId: signing.id, installedAt: at, leaseToken: null, leaseUntil: null, updatedAt: at });

    // Every line of the order renewed → FULFILLED (the order's certificates are free for a new order again).
    const lines = await em.count(OrderLineEntity, { where: { orderId: renewal.orderId } });
    const installed = await em.count(RenewalEntity, { where: { orderId: renewal.orderId, state: 'INSTALLED' } });
    if (installed >= lines) await this.orders.transition(em, renewal.orderNo, 'PAID', 'FULFILLED', { fulfilledAt: at }, at);

    const handler = await new HandlerRepository().verifiedOf(em, renewal.openid);
    if (handler) await new HandlerAuthorisationService(this.deps).extendRetention(em, handler, [signing], at);
    await NoticeOutbox.record(em, certRenewedNotice(renewal.id), at);
    return others;
  }

  private async recordCertificate(em: EntityManager, old: Certificate, pem: string, mediaSerial: string | null, at: Date, pairOf?: number): Promise<Certificate> {
    const c = parseCertificate(pem);
    return this.certs.insertOnce(em, {
      fingerprintSha256: c.fingerprintSha256, serialHex: c.serialHex, issuerDn: c.issuerDn, subjectDn: c.subjectDn,
      organization: c.subject.organization ?? old.organization, creditCode: c.subject.creditCode ?? old.creditCode, commonName: c.subject.commonName ?? old.commonName,
      algorithm: c.algorithm, usage: c.usage, mediaSerial: mediaSerial ?? old.mediaSerial, project: old.project, certType: old.certType,
      notBefore: c.notBefore, notAfter: c.notAfter, pem: c.pem, registeredHandlerIndex: old.registeredHandlerIndex ?? null, sandbox: old.sandbox,
      pairCertificateId: pairOf ?? null,
    }, at);
  }

  /**
   * The grace-period job: superseded certificates of renewals INSTALLED more than `graceDays` ago are revoked at
   * the CA with reason superseded (both of an SM2 pair), then marked revoked here. Idempotent (the CA keeps the
   * first revocation); a CA failure leaves the renewal for the next run.
   */
  async revokeSuperseded(now: Date, graceDays: number, limit = 100): Promise<number> {
    const due = await this.deps.db.getRepository(RenewalEntity).find({
      where: { state: 'INSTALLED', oldRevokedAt: IsNull(), installedAt: LessThan(new Date(now.getTime() - graceDays * DAY_MS)) }, order: { installedAt: 'ASC' }, take: limit,
    });
    let revoked = 0;
    for (const renewal of due) {
      const old = await this.certs.findById(this.deps.db.manager, renewal.certificateId);
      if (!old) continue;
      const pair = await this.deps.db.getRepository(CertificateEntity).find({ where: [{ id: old.id }, { pairCertificateId: old.id }, ...(old.pairCertificateId ? [{ id: old.pairCertificateId }] : [])] });
      try {
        for (const c of pair) await this.deps.ca.revoke(c.serialHex, 'superseded');
      } catch (err) {
        this.deps.logger.warn({ err, renewalId: renewal.id }, 'could not revoke the superseded certificate yet; the next run retries');
        continue;
      }
      await inTransaction(this.deps.db, async (em) => {
        // The status stays superseded (the phone shows 已更新); revokedAt records the CA's revocation.
        await em.update(CertificateEntity, { id: In(pair.map((c) => c.id)) }, { revokedAt: now, updatedAt: now });
        await em.update(RenewalEntity, { id: renewal.id }, { oldRevokedAt: now, updatedAt: now });
      });
      await this.renewals.audit.record({ renewalId: renewal.id, step: 'superseded-revoked', detail: { serials: pair.map((c) => c.serialHex) } });
      revoked++;
    }
    for (const r of await this.renewals.pendingReplaced(this.deps.db.manager)) await this.renewals.revokeReplaced(r.renewalId, [r]);
    return revoked;
  }
}
