import Router from '@koa/router';
import { type Deps } from '../../deps';
import { type RenderPage } from '../../lib/views';
import { type SandboxSmsOutbox } from '../../providers/sms/sandbox';
import { formatDateTime } from '../certificates/view-model';

/** /dev/sms: the sandbox SMS outbox (sandbox mode only; never built in production): the reminder texts as phones would show them. */
export function devSmsRoutes(deps: Deps, box: SandboxSmsOutbox, render: RenderPage): Router {
  const router = new Router();
  if (deps.config.isProduction) return router;
  router.get('/dev/sms', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'html';
    ctx.body = render('dev/sms.njk', {
      sandbox: true,
      title: '短信发件箱（沙箱）',
      messages: box.list().map((m) => ({ id: m.id, phone: m.phone, template: m.template, text: m.text, reference: m.reference, at: formatDateTime(m.at) })),
    });
  });
  return router;
}
