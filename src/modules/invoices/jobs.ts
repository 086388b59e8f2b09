import { type Deps } from '../../deps';
import { formatDateTime } from '../certificates/view-model';
import { ascii32, deliverTemplate, thing20 } from '../followers/template-delivery';
import { NoticeOutbox, noticeKeyOf } from '../notices/outbox';
import { fenToYuanString } from './amounts';
import { InvoiceIssuance } from './issuance';
import { INVOICE_ISSUED_NOTICE_JOB, INVOICE_MAIL_JOB, INVOICE_POLL_JOB, INVOICE_SUBMIT_JOB, INVOICE_SWEEP_JOB } from './job-names';
import { MAIL_ATTEMPTS, sendInvoiceMail } from './mail';
import { InvoiceRepository } from './repository';
import { applyInvoiceRetention } from './retention';
import { enqueueInvoiceMail } from './service';
import { invoiceDetailPath } from './types';

const SWEEP_EVERY_MS = 60_000;
/** A mail still owed this long after it was recorded lost its job (a crash after the commit): queue it again. */
const MAIL_REQUEUE_AFTER_MS = 5 * 60_000;

/**
 * The invoice jobs: submit and poll (issuance.ts), the e-mail of the PDF (mail.ts), 开票成功 through the notice
 * outbox (category template: character_string1 发票号码, thing2 发票抬头, amount3 价税合计, time4 开票时间; a
 * user who no longer follows gets no message, 43004 ends the job like the order notices) and the minute's sweep.
 */
export function registerInvoiceJobs(deps: Deps): void {
  const issuance = new InvoiceIssuance(deps);
  const outbox = new NoticeOutbox(deps);
  const repo = new InvoiceRepository();
  deps.jobs.register(INVOICE_SUBMIT_JOB, (payload) => issuance.submit(String(payload.attemptKey)));
  deps.jobs.register(INVOICE_POLL_JOB, (payload) => issuance.poll(String(payload.attemptKey), Number(payload.round) || 0));
  deps.jobs.register(INVOICE_MAIL_JOB, (payload, meta) => sendInvoiceMail(deps, String(payload.mailKey), Math.min(meta.attempt, MAIL_ATTEMPTS)));
  deps.jobs.register(INVOICE_ISSUED_NOTICE_JOB, async (payload) => {
    const acceptanceNo = String(payload.acceptanceNo);
    await outbox.deliver(noticeKeyOf(payload, `inv-${acceptanceNo}`), async () => {
      const request = await repo.byAcceptanceNo(deps.db.manager, acceptanceNo);
      const templateId = deps.config.wechat.templates?.invoiceIssued;
      if (!request || !templateId || !request.issuedAt) return 'skipped';
      return deliverTemplate(deps, {
        touser: request.openid, template_id: templateId, client_msg_id: ascii32(`inv-${acceptanceNo}`), url: `${deps.config.publicBaseUrl}${invoiceDetailPath(acceptanceNo)}`,
        data: {
          character_string1: ascii32(request.invoiceNumber ?? acceptanceNo), thing2: thing20(request.title), amount3: `${fenToYuanString(request.totalFen)}元`, time4: formatDateTime(request.issuedAt),
        },
      }, `invoice ${acceptanceNo}`);
    });
  });
  deps.jobs.register(INVOICE_SWEEP_JOB, async () => {
    const now = new Date(deps.clock.nowMs());
    const stale = await issuance.followStale(now);
    const mails = await repo.owedMails(deps.db.manager, new Date(now.getTime() - MAIL_REQUEUE_AFTER_MS), 100);
    for (const mail of mails) await enqueueInvoiceMail(deps, mail.mailKey);
    // Once an hour is plenty for a 180-day rule.
    if (Math.floor(now.getTime() / SWEEP_EVERY_MS) % 60 === 0) await applyInvoiceRetention(deps, now);
    if (stale || mails.length) deps.logger.info({ stale, mails: mails.length }, 'invoice work queued again by the sweep');
  });
}

/** Queues the sweep once a minute (every instance asks; the minute is the job id, so they share one run). */
export function scheduleInvoiceSweep(deps: Deps): () => void {
  const timer = setInterval(() => {
    const minute = Math.floor(deps.clock.nowMs() / SWEEP_EVERY_MS);
    deps.jobs.enqueue(INVOICE_SWEEP_JOB, {}, { jobId: `${INVOICE_SWEEP_JOB}:${minute}`, attempts: 1 }).catch((err) => deps.logger.warn({ err }, 'could not enqueue the invoice sweep'));
  }, SWEEP_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
