import Router from '@koa/router';
import type Koa from 'koa';
import { type Deps } from '../../deps';
import { AppError } from '../../lib/errors';
import { csrfToken } from '../../lib/http/csrf';
import { pagePolicy } from '../../lib/http/security-headers';
import { type RenderPage } from '../../lib/views';
import { formatDateTime } from '../certificates/view-model';
import { safeNext } from '../handlers/schemas';
import { HandlerService } from '../handlers/service';
import { requireRealUser, requireWechatUser, wechatUserOf } from '../oauth/middleware';
import { OAuthService } from '../oauth/service';
import { type DocumentSubmission } from './entities';
import { DOCUMENT_KINDS, type DocumentFormErrors, MAX_FILE_BYTES, parseDocumentForm } from './schemas';
import { HandlerDocumentService, REJECTED_RETENTION_DAYS, SUBMISSIONS_PER_DAY } from './service';
import { reencodeAll } from './images';
import { fieldsOf, parseUpload } from './upload';

export const DOCUMENTS_PATH = '/h5/handler/documents';
const TITLE = '人工审核认证 - 数安CA管家';

/** Where the handler pages said to continue (set by /h5/handler?next=…); validated again before use. */
function nextOf(ctx: Koa.Context): string | undefined {
  return safeNext((ctx as unknown as { session?: { handlerNext?: string } }).session?.handlerNext);
}

/**
 * `/h5/handler/documents`: the non-face alternative to the liveness check (for whoever declines or fails it).
 * GET shows the state of the latest submission (审核中 / 已通过 / 未通过：原因) or the consent text and form;
 * POST takes the multipart form, seals everything and queues it for `npm run handler-documents:review`.
 */
export function handlerDocumentRoutes(deps: Deps, render: RenderPage): Router {
  const router = new Router();
  const auth = requireWechatUser(new OAuthService(deps));
  const service = new HandlerDocumentService(deps);
  const handlers = new HandlerService(deps);
  const sandbox = deps.config.sandbox;

  const page = (ctx: Koa.Context, data: Record<string, unknown>) => {
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = render('h5/handler-documents.njk', {
      title: TITLE, sandbox, user: wechatUserOf(ctx), csrf: csrfToken(ctx, deps.random), next: nextOf(ctx), kinds: DOCUMENT_KINDS,
      maxMb: MAX_FILE_BYTES / 1024 / 1024, perDay: SUBMISSIONS_PER_DAY, rejectedDays: REJECTED_RETENTION_DAYS, errors: {}, values: {}, ...data,
    });
  };
  const view = (s: DocumentSubmission) => ({
    id: s.id, state: s.state, nameMasked: s.nameMasked, idNumberMasked: s.idNumberMasked, organisation: s.organisation, reason: s.reason,
    createdAt: formatDateTime(s.createdAt), reviewedAt: s.reviewedAt ? formatDateTime(s.reviewedAt) : null,
  });
  /** What the page shows for this openid now: a pending or decided submission, a liveness verification, or the form. */
  const state = async (openid: string) => {
    const [handler, latest] = await Promise.all([handlers.verifiedOf(openid), service.latestOf(openid)]);
    if (latest?.state === 'PENDING') return { kind: 'pending' as const, submission: latest };
    if (handler) return { kind: latest?.state === 'APPROVED' && handler.method === 'documents' ? 'approved' as const : 'verified' as const, submission: latest, handler };
    return { kind: latest?.state === 'REJECTED' ? 'rejected' as const : 'form' as const, submission: latest };
  };
  const showForm = (ctx: Koa.Context, rejected: DocumentSubmission | null | undefined, data: { errors?: DocumentFormErrors; error?: string; values?: Record<string, string> } = {}) =>
    page(ctx, { state: rejected?.state === 'REJECTED' ? 'rejected' : 'form', submission: rejected?.state === 'REJECTED' ? view(rejected) : undefined, ...data });

  // The form previews the chosen photos from blob: URLs (nothing leaves the phone before 提交).
  const withPreviews = pagePolicy({ images: ['blob:'] });
  router.get(DOCUMENTS_PATH, withPreviews, auth, async (ctx) => {
    const now = await state(wechatUserOf(ctx).openid);
    if (now.kind === 'form' || now.kind === 'rejected') return showForm(ctx, now.submission);
    page(ctx, { state: now.kind, submission: now.submission ? view(now.submission) : undefined, handler: 'handler' in now ? now.handler : undefined });
  });

  router.post(DOCUMENTS_PATH, withPreviews, auth, requireRealUser(), async (ctx) => {
    const openid = wechatUserOf(ctx).openid;
    const now = await state(openid);
    // Already decided or waiting: nothing to upload (the page says why). 303: the browser must GET it.
    if (now.kind !== 'form' && now.kind !== 'rejected') {
      ctx.status = 303;
      return ctx.redirect(DOCUMENTS_PATH);
    }
    let upload;
    try {
      await service.countUpload(openid);
      upload = await parseUpload(ctx);
    } catch (err) {
      if (!(err instanceof AppError) || err.status === 401 || err.status === 403) throw err;
      ctx.status = err.status;
      return showForm(ctx, now.submission, { error: err.userMessage, values: fieldsOf(ctx) });
    }
    const parsed = parseDocumentForm(upload.fields, upload.files, deps.clock.nowMs());
    if (!parsed.ok) {
      ctx.status = 400;
      return showForm(ctx, now.submission, { errors: parsed.errors, values: upload.fields });
    }
    const images = await reencodeAll(parsed.value.files);
    if (!images.ok) {
      deps.logger.info({ refused: images.refused.map((r) => r.detail) }, 'handler document images refused');
      ctx.status = 400;
      return showForm(ctx, now.submission, { errors: Object.fromEntries(images.refused.map((r) => [r.kind, r.message])), values: upload.fields });
    }
    try {
      await service.submit({ openid, form: { ...parsed.value, files: images.images }, consentedAt: new Date(deps.clock.nowMs()) });
    } catch (err) {
      if (!(err instanceof AppError) || err.status === 401) throw err;
      ctx.status = err.status;
      return showForm(ctx, now.submission, { error: err.userMessage, values: upload.fields });
    }
    ctx.status = 303;
    ctx.redirect(DOCUMENTS_PATH);
  });

  return router;
}
