import Router from '@koa/router';
import type Koa from 'koa';
import { type Deps } from '../../deps';
import { AppError } from '../../lib/errors';
import { csrfToken, verifyCsrf } from '../../lib/http/csrf';
import { readForm } from '../../lib/http/form';
import { LockedOutError } from '../../lib/http/rate-limit';
import { pagePolicy } from '../../lib/http/security-headers';
import { type RenderPage } from '../../lib/views';
import { certificateServiceFor } from '../certificates/service';
import { toCard } from '../certificates/view-model';
import { requireRealUser, requireWechatUser, wechatUserOf } from '../oauth/middleware';
import { OAuthService } from '../oauth/service';
import { parseBindForm } from './schemas';
import { BindingService } from './service';

/** What the bind page keeps in the session after a QR scan: the code's row, never the code (we cannot know it). */
interface BindSession { scannedCodeId?: number; scannedUntil?: number }

function bindSession(ctx: Koa.Context): BindSession {
  return (ctx as unknown as { session: BindSession }).session;
}

/**
 * `/h5/bind`: the phone half of binding (seed 三, step 2). Typed code + last 4 of the media serial, or — after
 * scanning the QR on the PC page — only the last 4. Errors are shown on the form, with what was typed kept.
 */
export function bindingRoutes(deps: Deps, render: RenderPage): Router {
  const router = new Router();
  const auth = requireWechatUser(new OAuthService(deps));
  const service = new BindingService(deps);
  const certificates = certificateServiceFor(deps);
  const sandbox = deps.config.sandbox;
  const now = () => new Date(deps.clock.nowMs());

  const form = (ctx: Koa.Context, data: { error?: string; code?: string; last4?: string; scanned?: boolean; qrError?: string }) => {
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = render('h5/bind.njk', {
      title: '绑定证书 - 数安CA管家', sandbox, user: wechatUserOf(ctx), csrf: csrfToken(ctx, deps.random),
      pcUrl: `${deps.config.publicBaseUrl}/capc/`, ...data,
    });
  };

  const scannedCodeId = (ctx: Koa.Context): number | undefined => {
    const s = bindSession(ctx);
    if (s.scannedCodeId !== undefined && (s.scannedUntil ?? 0) > deps.clock.nowMs()) return s.scannedCodeId;
    delete s.scannedCodeId;
    delete s.scannedUntil;
    return undefined;
  };

  // After a QR scan the address carries the one-time token (?t=): no Referer from it.
  router.get('/h5/bind', pagePolicy({ noReferrer: true }), auth, async (ctx) => {
    const token = typeof ctx.query.t === 'string' ? ctx.query.t : undefined;
    if (token !== undefined) {
      let row;
      try {
        row = await service.scanQrToken(wechatUserOf(ctx).openid, ctx.ip, token);
      } catch (err) {
        if (!(err instanceof LockedOutError)) throw err;
        ctx.status = err.status;
        ctx.set('Retry-After', String(err.retryAfterSec));
        return form(ctx, { error: err.userMessage });
      }
      if (!row) return form(ctx, { qrError: '二维码已失效或已使用，请手动输入电脑上显示的绑定码' });
      Object.assign(bindSession(ctx), { scannedCodeId: row.id, scannedUntil: row.expiresAt.getTime() });
      // Drop the token from the address bar (and from anything the page is shared to).
      return ctx.redirect('/h5/bind');
    }
    if (ctx.query.manual === '1') {
      delete bindSession(ctx).scannedCodeId;
      delete bindSession(ctx).scannedUntil;
    }
    form(ctx, { scanned: scannedCodeId(ctx) !== undefined });
  });

  router.post('/h5/bind', auth, requireRealUser(), async (ctx) => {
    const fields = await readForm(ctx);
    verifyCsrf(ctx, fields);
    const user = wechatUserOf(ctx);
    const codeId = fields.code ? undefined : scannedCodeId(ctx);
    let input: { code?: string; last4?: string } = fields;
    try {
      input = parseBindForm(fields);
      const result = await service.redeem({
        openid: user.openid, unionid: user.unionid, ip: ctx.ip, code: codeId === undefined ? input.code ?? '' : undefined, codeId, mediaLast4: input.last4 ?? '',
      });
      delete bindSession(ctx).scannedCodeId;
      delete bindSession(ctx).scannedUntil;
      ctx.type = 'html';
      ctx.set('Cache-Control', 'no-store');
      ctx.body = render('h5/bind-done.njk', {
        title: '绑定成功 - 数安CA管家', sandbox, user, created: result.created, cert: toCard(result.certificate, certificates.rules, now()),
      });
    } catch (err) {
      // Refusals go back to the form (with a 4xx status) so the user can correct and retry; the rest to the error page.
      if (!(err instanceof AppError) || err.status >= 500 || err.status === 401) throw err;
      ctx.status = err.status;
      if (err instanceof LockedOutError) ctx.set('Retry-After', String(err.retryAfterSec));
      form(ctx, { error: err.userMessage, code: input.code, last4: input.last4, scanned: scannedCodeId(ctx) !== undefined });
    }
  });

  return router;
}
