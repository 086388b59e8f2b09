import Router from '@koa/router';
import type Koa from 'koa';
import { type Deps } from '../../deps';
import { pagePolicy } from '../../lib/http/security-headers';
import { createLimiter, isLimiterRefusal } from '../../lib/http/rate-limit';
import { type RenderPage } from '../../lib/views';
import { formatDateTime } from '../certificates/view-model';
import { fenToYuanString } from './amounts';
import { type InvoiceFileKind } from './entities';
import { InvoiceLinks } from './link-access';

/** Requests per IP per minute on /i/…: a person opens a link a few times; a scanner of tokens is cut off fast. */
const LINK_REQUESTS_PER_MINUTE = 30;
const FILE_NAMES: Record<InvoiceFileKind, string> = { pdf: 'PDF 版式文件', ofd: 'OFD 原始凭证', xml: 'XML 数据文件' };

/**
 * /i/<token>: the invoice link (issue 11). No session and no openid: the token is the key, so it works in any phone
 * browser. The page and the files say no-referrer (a link followed from the page must not carry the token to
 * another site) and no-store (no shared cache keeps an invoice). A malformed, unknown or revoked token gets the
 * same plain 404. Mounted before the session middleware: opening a link never creates a session.
 */
export function invoiceLinkRoutes(deps: Deps, render: RenderPage): Router {
  const router = new Router();
  const links = new InvoiceLinks(deps);
  const limiter = createLimiter(deps, 'invoice-link', LINK_REQUESTS_PER_MINUTE, 60);
  const guard: Koa.Middleware = async (ctx, next) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.set('X-Robots-Tag', 'noindex, nofollow');
    try {
      await limiter.consume(ctx.ip);
    } catch (err) {
      if (!isLimiterRefusal(err)) throw err;
      ctx.status = 429;
      ctx.set('Retry-After', String(Math.max(1, Math.ceil(err.msBeforeNext / 1000))));
      ctx.type = 'html';
      ctx.body = render('invoice-link/not-found.njk', { sandbox: deps.config.sandbox, tooMany: true });
      return;
    }
    await next();
  };
  const notFound = (ctx: Koa.Context) => {
    ctx.status = 404;
    ctx.type = 'html';
    ctx.body = render('invoice-link/not-found.njk', { sandbox: deps.config.sandbox });
  };

  router.get('/i/:token', pagePolicy({ noReferrer: true }), guard, async (ctx) => {
    const opened = await links.open(ctx.params.token ?? '');
    if (!opened) return notFound(ctx);
    const { request } = opened;
    ctx.type = 'html';
    ctx.body = render('invoice-link/show.njk', {
      sandbox: request.sandbox,
      title: `电子发票 ${request.invoiceNumber ?? ''}`,
      invoice: {
        red: request.direction === 'red', reversed: request.status === 'reversed', title: request.title, number: request.invoiceNumber, code: request.invoiceCode,
        issuedAt: request.issuedAt ? formatDateTime(request.issuedAt) : '', total: fenToYuanString(request.totalFen), acceptanceNo: request.acceptanceNo,
      },
      files: opened.files.map((f) => ({ kind: f.kind, name: FILE_NAMES[f.kind], href: `/i/${ctx.params.token}/${f.kind}`, sizeKb: Math.max(1, Math.round(f.sizeBytes / 1024)) })),
    });
  });

  router.get('/i/:token/:kind', pagePolicy({ noReferrer: true }), guard, async (ctx) => {
    const kind = ctx.params.kind as InvoiceFileKind;
    if (!(kind in FILE_NAMES)) return notFound(ctx);
    const found = await links.file(ctx.params.token ?? '', kind);
    if (!found) return notFound(ctx);
    const base = `${found.request.direction === 'red' ? '红字' : ''}电子发票_${found.request.invoiceNumber ?? found.request.acceptanceNo}.${kind}`;
    ctx.set('Content-Type', found.file.contentType);
    // RFC 6266: an ASCII fallback, and the Chinese name in filename* for browsers that read it.
    ctx.set('Content-Disposition', `attachment; filename="invoice_${found.request.invoiceNumber ?? found.request.acceptanceNo}.${kind}"; filename*=UTF-8''${encodeURIComponent(base)}`);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.body = found.file.bytes;
  });
  return router;
}
