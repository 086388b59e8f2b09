import Router from '@koa/router';
import { type Deps } from '../../deps';
import { type RenderPage } from '../../lib/views';
import { type SandboxMailbox } from '../../providers/mail/sandbox';
import { formatDateTime } from '../certificates/view-model';
import { InvoiceRepository } from '../invoices/repository';

/**
 * /dev/mail: the sandbox outbox (sandbox mode only; never built in production). Shows what the invoice e-mails
 * would have been, attachment included, and the e-mails still owed or given up (the queue's retries, visible).
 */
export function devMailRoutes(deps: Deps, box: SandboxMailbox, render: RenderPage): Router {
  const router = new Router();
  if (deps.config.isProduction) return router;
  const repo = new InvoiceRepository();

  router.get('/dev/mail', async (ctx) => {
    const pending = await repo.owedMails(deps.db.manager, new Date(deps.clock.nowMs() + 1), 50);
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'html';
    ctx.body = render('dev/mail.njk', {
      sandbox: true,
      title: '邮件发件箱（沙箱）',
      failNext: box.failNext,
      pending: pending.map((m) => ({ key: m.mailKey, attempts: m.attempts, lastError: m.lastError })),
      messages: box.list().map((m) => ({
        id: m.id, to: m.to, subject: m.subject, text: m.text, at: formatDateTime(m.at),
        attachments: m.attachments.map((a, i) => ({ index: i, filename: a.filename, sizeKb: Math.max(1, Math.round(a.size / 1024)) })),
      })),
    });
  });

  router.get('/dev/mail/:id/raw', (ctx) => {
    const message = box.get(Number(ctx.params.id));
    if (!message) return;
    ctx.set('Content-Type', 'message/rfc822');
    ctx.set('Content-Disposition', `attachment; filename="message-${message.id}.eml"`);
    ctx.body = message.raw;
  });

  router.get('/dev/mail/:id/attachments/:index', (ctx) => {
    const attachment = box.get(Number(ctx.params.id))?.attachments[Number(ctx.params.index)];
    if (!attachment) return;
    ctx.set('Content-Type', attachment.contentType);
    ctx.set('Content-Disposition', `attachment; filename*=UTF-8''${encodeURIComponent(attachment.filename)}`);
    ctx.body = attachment.content;
  });
  return router;
}
