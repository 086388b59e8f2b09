import { BRAND } from '../../config/brand';
import { type Deps } from '../../deps';
import { fenToYuanString } from './amounts';
import { formatDateTime } from '../certificates/view-model';
import { type InvoiceRequestRow } from './entities';
import { openLinkToken } from './links';
import { InvoiceRepository } from './repository';
import { invoiceLinkUrl } from './types';

/** The queue tries a send this many times (backoff 1 s, 2 s, 4 s, 8 s); then the row says `failed` for operators. */
export const MAIL_ATTEMPTS = 5;
const SYSTEM = 'system:invoice-mail';

/**
 * Sends one owed invoice e-mail (the PDF attached, the link in the text). Only while the row is owed: a job that
 * runs again after success sends nothing. A failure is recorded on the row (attempts, last error) and thrown for
 * the queue to retry; the last attempt marks it failed, which `npm run invoices:status` lists and `invoices:resend`
 * sends again.
 */
export async function sendInvoiceMail(deps: Deps, mailKey: string, attempt: number): Promise<void> {
  const repo = new InvoiceRepository();
  const em = deps.db.manager;
  const row = await repo.mail(em, mailKey);
  if (!row || row.state !== 'owed') return;
  const request = await repo.byId(em, row.requestId);
  const pdf = request ? await repo.file(em, request.id, 'pdf') : null;
  if (!request || !pdf) throw new Error(`invoice mail ${mailKey}: no issued PDF`);
  const to = deps.pii.decrypt(row.toSealed, 'invoice-mail-to', { actor: SYSTEM, reason: 'invoice-mail', subject: `invoice-request:${request.id}` });
  const link = await repo.liveLink(em, request.id);
  const url = link ? invoiceLinkUrl(deps.config.publicBaseUrl, openLinkToken(deps.pii, link.tokenSealed, SYSTEM)) : null;
  try {
    const sent = await deps.mailer.send({
      to,
      subject: `${request.direction === 'red' ? '红字' : ''}电子发票 ${request.invoiceNumber ?? ''}（${request.title}）`,
      text: mailText(request, url),
      attachments: [{ filename: `${request.direction === 'red' ? '红字' : ''}电子发票_${request.invoiceNumber ?? request.acceptanceNo}.pdf`, content: pdf.bytes, contentType: 'application/pdf' }],
    });
    await repo.updateMail(em, row.id, { state: 'sent', attempts: row.attempts + 1, lastError: null, messageId: sent.messageId.slice(0, 200), sentAt: new Date(deps.clock.nowMs()) });
    deps.logger.info({ acceptanceNo: request.acceptanceNo, mailKey }, 'invoice e-mail sent');
  } catch (err) {
    const last = attempt >= MAIL_ATTEMPTS;
    await repo.updateMail(em, row.id, { attempts: row.attempts + 1, lastError: (err as Error).message.slice(0, 200), ...(last ? { state: 'failed' as const } : {}) });
    deps.logger[last ? 'error' : 'warn']({ acceptanceNo: request.acceptanceNo, mailKey, attempt, err: (err as Error).message }, last ? 'invoice e-mail failed for good: operator resend' : 'invoice e-mail failed; the queue retries');
    throw err;
  }
}

function mailText(request: InvoiceRequestRow, url: string | null): string {
  return [
    '您好：',
    '',
    `您申请的${request.direction === 'red' ? '红字' : ''}电子发票已开具，PDF 文件见附件。`,
    '',
    `发票抬头：${request.title}`,
    `发票号码：${request.invoiceNumber ?? ''}`,
    `开票时间：${request.issuedAt ? formatDateTime(request.issuedAt) : ''}`,
    `价税合计：¥${fenToYuanString(request.totalFen)}`,
    `受理单号：${request.acceptanceNo}`,
    ...(url ? ['', `在任何浏览器中打开以下链接也可查看和下载发票：`, url, '（请勿转发给无关人员，持有链接即可查看发票。）'] : []),
    '',
    `如有疑问请拨打客服热线 ${BRAND.hotline}。`,
    `${BRAND.accountName} · ${BRAND.appName}`,
  ].join('\n');
}
