import Router from '@koa/router';
import type Koa from 'koa';
import { type Deps } from '../../deps';
import { NotFoundError, ValidationError } from '../../lib/errors';
import { type RenderPage } from '../../lib/views';
import { consoleAudit } from '../console/audit';
import { readConsoleForm } from '../console/form';
import { operatorOf, requireRole, requireStepUp } from '../console/guard';
import { type ConsoleSection } from '../console/sections';
import { CertificateRepository } from '../certificates/repository';
import { HandlerAuthorisationService } from '../handler-authorisation/service';
import { labelOf } from './schemas';
import { HandlerDocumentService } from './service';

/**
 * 审核 in the console (客服): the three queues that were commands — 经办人授权 (`handlers:reviews`), handler documents
 * (`handler-documents:review`) and certificates matching no project rule (`certs:reviews`). Document images are
 * personal data of the most sensitive kind: they are shown only after step-up and a typed reason, inline in that one
 * response (data: URLs, never an address that could be opened again or cached), and every view is audited — in the
 * documents' own access trail (service.show) and in the console's chain with the reason.
 */
const REASON_MIN = 4;
const reviewer = (ctx: Koa.Context) => operatorOf(ctx).username;
const idParam = (ctx: Koa.Context) => {
  const id = Number(ctx.params.id);
  if (!Number.isSafeInteger(id) || id <= 0) throw new NotFoundError('没有这条记录', `bad id ${ctx.params.id}`);
  return id;
};

function reviewRoutes(deps: Deps, render: RenderPage): Router {
  const router = new Router();
  const support = requireRole('support');
  const stepUp = requireStepUp();
  const audit = consoleAudit(deps);
  const authorisations = new HandlerAuthorisationService(deps);
  const documents = new HandlerDocumentService(deps);
  const certReviews = new CertificateRepository();
  const now = () => new Date(deps.clock.nowMs());

  router.get('/reviews', support, async (ctx) => {
    ctx.body = render('console/reviews/index.njk', {
      handlers: await authorisations.pending(),
      documents: await documents.listPending(),
      certificates: await certReviews.pendingReviews(deps.db.manager),
      projectsFile: deps.config.certificates.projectsFile,
      notice: ctx.query.done ? String(ctx.query.done) : null,
    });
  });

  // ---- 经办人授权 ----
  router.post('/reviews/handlers/:id/approve', support, async (ctx) => {
    const id = idParam(ctx);
    const { changed, row } = await authorisations.approve(id, `operator:${reviewer(ctx)}`, now());
    await audit.record(ctx, { action: 'handler-auth.approve', subject: `handler_authorisation:${id}`, after: { state: row.state, changed } });
    ctx.redirect(`/reviews?done=${encodeURIComponent(`经办人申请 #${id} 已通过${changed ? '' : '（此前已通过）'}`)}`);
  });
  router.post('/reviews/handlers/:id/reject', support, async (ctx) => {
    const id = idParam(ctx);
    const form = await readConsoleForm(ctx);
    const { changed, row } = await authorisations.reject(id, `operator:${reviewer(ctx)}`, form.reason ?? '', now());
    await audit.record(ctx, { action: 'handler-auth.reject', subject: `handler_authorisation:${id}`, after: { state: row.state, changed, reason: row.reason } });
    ctx.redirect(`/reviews?done=${encodeURIComponent(`经办人申请 #${id} 已驳回`)}`);
  });

  // ---- handler documents ----
  router.get('/reviews/documents/:id', support, stepUp, async (ctx) => {
    const id = idParam(ctx);
    const submission = await documents.repo.byId(deps.db.manager, id, { includeSandbox: documents.sandbox });
    if (!submission) throw new NotFoundError('没有这条材料', `document submission ${id}`);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = render('console/reviews/document.njk', { s: submission, shown: null, accesses: await documents.repo.accessesOf(deps.db.manager, id) });
  });

  router.post('/reviews/documents/:id/view', support, stepUp, async (ctx) => {
    const id = idParam(ctx);
    const form = await readConsoleForm(ctx);
    const why = (form.reason ?? '').replace(/\s+/g, ' ').trim();
    if (why.length < REASON_MIN || why.length > 200) throw new ValidationError(`查看证件照片前请填写查看原因（${REASON_MIN}-200 字）`, `document ${id} view without a reason`);
    const shown = await documents.show(id, reviewer(ctx));
    await audit.record(ctx, { action: 'document.view', subject: `handler_document:${id}`, detail: { reason: why, files: shown.files.map((f) => f.kind) } });
    ctx.set('Cache-Control', 'no-store');
    ctx.body = render('console/reviews/document.njk', {
      s: shown.submission, reason: why, accesses: await documents.repo.accessesOf(deps.db.manager, id),
      shown: { name: shown.name, idNumber: shown.idNumber, files: shown.files.map((f) => ({ label: labelOf(f.kind), src: `data:${f.contentType};base64,${f.bytes.toString('base64')}` })) },
    });
  });

  router.post('/reviews/documents/:id/approve', support, async (ctx) => {
    const id = idParam(ctx);
    const { already } = await documents.approve(id, reviewer(ctx));
    await audit.record(ctx, { action: 'document.approve', subject: `handler_document:${id}`, after: { state: 'APPROVED', already } });
    ctx.redirect(`/reviews?done=${encodeURIComponent(`材料 #${id} 已通过${already ? '（此前已通过）' : '，经办人已认证'}`)}`);
  });
  router.post('/reviews/documents/:id/reject', support, async (ctx) => {
    const id = idParam(ctx);
    const form = await readConsoleForm(ctx);
    const { already } = await documents.reject(id, reviewer(ctx), form.reason ?? '');
    await audit.record(ctx, { action: 'document.reject', subject: `handler_document:${id}`, after: { state: 'REJECTED', already, reason: form.reason?.trim() } });
    ctx.redirect(`/reviews?done=${encodeURIComponent(`材料 #${id} 已驳回`)}`);
  });

  // ---- certificates matching no project rule ----
  router.post('/reviews/certificates/:id/resolve', support, async (ctx) => {
    const id = idParam(ctx);
    const form = await readConsoleForm(ctx);
    const done = await certReviews.resolveReview(deps.db.manager, id);
    if (!done) throw new NotFoundError('没有待处理的该条记录', `certificate review ${id} not pending`);
    await audit.record(ctx, { action: 'cert-review.resolve', subject: `certificate_review:${id}`, after: { status: 'resolved' }, detail: { note: (form.note ?? '').slice(0, 200) } });
    ctx.redirect(`/reviews?done=${encodeURIComponent(`证书审核 #${id} 已处理`)}`);
  });

  return router;
}

export const reviewsSection: ConsoleSection = {
  path: '/reviews',
  title: '审核',
  roles: ['support'],
  routes: reviewRoutes,
};
