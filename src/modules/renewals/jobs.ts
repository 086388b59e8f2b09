import { type Deps } from '../../deps';
import { enqueueOncePerChinaDay, runPeriodically } from '../../lib/jobs/periodic';
import { CertificateEntity } from '../certificates/entities';
import { formatDate } from '../certificates/view-model';
import { ascii32, deliverTemplate, ERRCODE_REQUIRE_SUBSCRIBE, thing20 } from '../followers/template-delivery';
import { NoticeOutbox, noticeKeyOf } from '../notices/outbox';
import { OrderNoticeStore } from '../payments/undelivered-notices';
import { RenewalAuditLog } from './audit';
import { RenewalEntity, RenewalIssuanceEntity } from './entities';
import { CERT_RENEWED_NOTICE_JOB, RenewalInstaller } from './install';
import { RenewalService } from './service';

export const REVOKE_SUPERSEDED_JOB = 'renewals.revoke-superseded';
export const AUDIT_EXPORT_JOB = 'renewals.audit-export';
const CHECK_EVERY_MS = 3_600_000;

/**
 * The renewal jobs: 证书续期成功 (an owed notice: 类目模板 thing1 单位, character_string2 新证书序列号, time3 有效期至;
 * client_msg_id `renewed-<id>`, 43004 kept for the order page as the order notices are), the grace-period revocation
 * of superseded certificates, and the daily signed export of the audit chain's head.
 */
export function registerRenewalJobs(deps: Deps): void {
  const outbox = new NoticeOutbox(deps);
  const undelivered = new OrderNoticeStore(deps.db);
  const service = new RenewalService(deps);
  const installer = new RenewalInstaller(deps, service);

  deps.jobs.register(CERT_RENEWED_NOTICE_JOB, async (payload) => {
    const renewalId = Number(payload.renewalId);
    await outbox.deliver(noticeKeyOf(payload, `renewed-${renewalId}`), async () => {
      const templateId = deps.config.wechat.templates?.certRenewed;
      const renewal = await deps.db.getRepository(RenewalEntity).findOneBy({ id: renewalId });
      const issuance = renewal ? await deps.db.getRepository(RenewalIssuanceEntity).findOneBy({ renewalId, state: 'INSTALLED' }) : null;
      const cert = renewal?.newCertificateId ? await deps.db.getRepository(CertificateEntity).findOneBy({ id: renewal.newCertificateId }) : null;
      if (!templateId || !renewal || !issuance || !cert) return 'skipped';
      const key = ascii32(`renewed-${renewalId}`);
      const detail = thing20(cert.organization ?? cert.commonName ?? '数字证书');
      const delivery = await deliverTemplate(deps, {
        touser: renewal.openid, template_id: templateId, client_msg_id: key, url: `${deps.config.publicBaseUrl}/h5/certs/${cert.id}`,
        data: { thing1: detail, character_string2: ascii32(issuance.serialHex.toUpperCase()), time3: formatDate(issuance.notAfter) },
      }, `renewal ${renewalId}`);
      if (delivery === 'not-following') {
        await undelivered.recordUndelivered({
          noticeKey: key, orderNo: renewal.orderNo, openid: renewal.openid, kind: 'cert-renewed', amountFen: 0, detail: `证书续期成功，新证书有效期至 ${formatDate(issuance.notAfter)}`,
          happenedAt: renewal.installedAt ?? new Date(deps.clock.nowMs()), errcode: ERRCODE_REQUIRE_SUBSCRIBE, createdAt: new Date(deps.clock.nowMs()),
        });
      }
      return delivery;
    });
  });

  deps.jobs.register(REVOKE_SUPERSEDED_JOB, async () => {
    const revoked = await installer.revokeSuperseded(new Date(deps.clock.nowMs()), deps.config.renewals.supersededGraceDays);
    if (revoked) deps.logger.info({ revoked }, 'superseded certificates revoked after the grace period');
  });

  deps.jobs.register(AUDIT_EXPORT_JOB, async () => {
    const file = await new RenewalAuditLog(deps).exportHead(deps.config.renewals.auditExportDir, deps.config.renewals.auditKeySeed);
    if (file) deps.logger.info({ file }, 'renewal audit head exported');
  });
}

/** Hourly: the revocation pass; once per China day (the shared store decides which instance): the audit export. */
export function scheduleRenewalJobs(deps: Deps): () => void {
  const tick = () => {
    void deps.jobs.enqueue(REVOKE_SUPERSEDED_JOB, {}, { jobId: `${REVOKE_SUPERSEDED_JOB}:${Math.floor(deps.clock.nowMs() / CHECK_EVERY_MS)}` })
      .catch((err) => deps.logger.warn({ err }, 'could not enqueue the superseded revocation'));
    void enqueueOncePerChinaDay(deps.store, deps.jobs, AUDIT_EXPORT_JOB, deps.clock.nowMs())
      .catch((err) => deps.logger.warn({ err }, 'could not enqueue the audit export'));
  };
  return runPeriodically(tick, CHECK_EVERY_MS);
}
