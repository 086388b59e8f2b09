import Router from '@koa/router';
import type Koa from 'koa';
import { type Deps } from '../../deps';
import { AppError, ForbiddenError } from '../../lib/errors';
import { csrfToken, verifyCsrf } from '../../lib/http/csrf';
import { readForm } from '../../lib/http/form';
import { pagePolicy } from '../../lib/http/security-headers';
import { type RenderPage } from '../../lib/views';
import { requireRealUser, requireWechatUser, wechatUserOf } from '../oauth/middleware';
import { OAuthService } from '../oauth/service';
import { parseMobileWithConsent, REMINDER_MOBILE_CONSENT_TEXT, ReminderMobiles } from '../reminders/mobile';
import { type VerifiedHandler } from './entities';
import { parseHandlerForm, safeNext } from './schemas';
import { DAILY_ATTEMPT_LIMIT, HandlerService, RETENTION_YEARS } from './service';

/** What the handler pages keep in the session: consent (time of 同意), and where to go afterwards. */
interface HandlerSession { handlerConsentAt?: number; handlerNext?: string }
/** Consent is asked again after this: it must be fresh and informed, not a tick from weeks ago. */
const CONSENT_TTL_MS = 30 * 60_000;
export const GUARD_MESSAGE = '首次办理需要进行经办人活体鉴别认证';

function handlerSession(ctx: Koa.Context): HandlerSession {
  return (ctx as unknown as { session: HandlerSession }).session;
}

declare module 'koa' {
  interface DefaultState {
    /** Set by requireVerifiedHandler. */
    verifiedHandler?: VerifiedHandler;
  }
}

/**
 * Guard for business pages (续期缴费, payment): mount after requireWechatUser. A handler not yet verified is sent
 * to the check (GET) with the page to come back to; other methods are refused with the same explanation.
 */
export function requireVerifiedHandler(deps: Deps): Koa.Middleware {
  const service = new HandlerService(deps);
  return async (ctx, next) => {
    const handler = await service.verifiedOf(wechatUserOf(ctx).openid);
    if (handler) {
      ctx.state.verifiedHandler = handler;
      return next();
    }
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') throw new ForbiddenError(`${GUARD_MESSAGE}，请先完成认证`, 'business action before handler liveness');
    ctx.set('Cache-Control', 'no-store');
    const back = safeNext(ctx.originalUrl);
    ctx.redirect(back ? `/h5/handler?next=${encodeURIComponent(back)}` : '/h5/handler');
  };
}

/**
 * `/h5/handler`: consent → 姓名 + 身份证号 → the provider's check page → `/h5/handler/callback` → verdict.
 * The consent screen is separate and explicit (PIPL arts. 29–30 for sensitive data; face-recognition rules).
 */
export function handlerRoutes(deps: Deps, render: RenderPage): Router {
  const router = new Router();
  const auth = requireWechatUser(new OAuthService(deps));
  const service = new HandlerService(deps);
  const mobiles = new ReminderMobiles(deps);
  const sandbox = deps.config.sandbox;

  const page = (ctx: Koa.Context, template: string, data: Record<string, unknown>) => {
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = render(template, { sandbox, user: wechatUserOf(ctx), csrf: csrfToken(ctx, deps.random), next: handlerSession(ctx).handlerNext, ...data });
  };
  const consented = (ctx: Koa.Context) => {
    const at = handlerSession(ctx).handlerConsentAt;
    return at !== undefined && deps.clock.nowMs() - at < CONSENT_TTL_MS ? new Date(at) : undefined;
  };
  const form = (ctx: Koa.Context, data: { errors?: Record<string, string | undefined>; error?: string; name?: string; idNumber?: string; mobile?: string; mobileConsent?: boolean } = {}) =>
    page(ctx, 'h5/handler-form.njk', { title: '经办人认证 - 数安CA管家', errors: {}, mobileConsentText: REMINDER_MOBILE_CONSENT_TEXT, ...data });
  // The verified page also holds the reminder mobile (add, or withdraw): a verified handler never sees the form again.
  const verified = async (ctx: Koa.Context, handler: VerifiedHandler, justNow: boolean, staleAttempt = false, mobileState: { mobileError?: string; mobile?: string; mobileFlash?: string } = {}) =>
    page(ctx, 'h5/handler-result.njk', {
      title: '经办人认证 - 数安CA管家', outcome: 'passed', justNow, handler, staleAttempt,
      reminderMobile: await mobiles.maskedOf(handler.openid), mobileConsentText: REMINDER_MOBILE_CONSENT_TEXT, ...mobileState,
    });

  router.get('/h5/handler', auth, async (ctx) => {
    const next = safeNext(ctx.query.next);
    if (next) handlerSession(ctx).handlerNext = next;
    const handler = await service.verifiedOf(wechatUserOf(ctx).openid);
    if (handler) return verified(ctx, handler, false);
    page(ctx, 'h5/handler-consent.njk', { title: '经办人认证 - 数安CA管家', guardMessage: GUARD_MESSAGE, limit: DAILY_ATTEMPT_LIMIT, retentionYears: RETENTION_YEARS });
  });

  router.post('/h5/handler/consent', auth, async (ctx) => {
    const fields = await readForm(ctx);
    verifyCsrf(ctx, fields);
    if (fields.decision !== 'agree') {
      delete handlerSession(ctx).handlerConsentAt;
      return page(ctx, 'h5/handler-result.njk', { title: '经办人认证 - 数安CA管家', outcome: 'declined' });
    }
    handlerSession(ctx).handlerConsentAt = deps.clock.nowMs();
    ctx.redirect('/h5/handler/form');
  });

  router.get('/h5/handler/form', auth, async (ctx) => {
    if (!consented(ctx)) return ctx.redirect('/h5/handler');
    form(ctx);
  });

  router.post('/h5/handler/form', auth, requireRealUser(), async (ctx) => {
    const fields = await readForm(ctx);
    verifyCsrf(ctx, fields);
    const consentedAt = consented(ctx);
    if (!consentedAt) return ctx.redirect('/h5/handler');
    const parsed = parseHandlerForm(fields, deps.clock.nowMs());
    const mobile = parseMobileWithConsent(fields);
    if (!parsed.ok || !mobile.ok) {
      ctx.status = 400;
      const errors = { ...(parsed.ok ? {} : parsed.errors), ...(mobile.ok ? {} : { mobile: mobile.error }) };
      return form(ctx, { errors, name: fields.name, idNumber: fields.idNumber, mobile: fields.mobile, mobileConsent: fields.mobileConsent === 'yes' });
    }
    // Its own consent, given now: kept whatever the liveness check says (the handler can delete it on the 已认证 page).
    if (mobile.mobile) await mobiles.save(wechatUserOf(ctx).openid, mobile.mobile);
    try {
      const { url } = await service.start({ openid: wechatUserOf(ctx).openid, ...parsed.value, consentedAt });
      ctx.set('Cache-Control', 'no-store');
      ctx.redirect(url);
    } catch (err) {
      if (!(err instanceof AppError) || err.status === 401) throw err;
      ctx.status = err.status;
      form(ctx, { error: err.userMessage, name: fields.name, idNumber: fields.idNumber, mobile: fields.mobile, mobileConsent: fields.mobileConsent === 'yes' });
    }
  });

  // 证书到期提醒短信 for a verified handler: add (with its own consent) or withdraw (the number is deleted).
  router.post('/h5/handler/mobile', auth, requireRealUser(), async (ctx) => {
    const fields = await readForm(ctx);
    verifyCsrf(ctx, fields);
    const openid = wechatUserOf(ctx).openid;
    const handler = await service.verifiedOf(openid);
    if (!handler) return ctx.redirect('/h5/handler');
    if (fields.action === 'withdraw') {
      await mobiles.withdraw(openid);
      return verified(ctx, handler, false, false, { mobileFlash: '已删除手机号，不再发送到期提醒短信' });
    }
    const mobile = parseMobileWithConsent(fields);
    if (!mobile.ok || !mobile.mobile) {
      ctx.status = 400;
      return verified(ctx, handler, false, false, { mobileError: mobile.ok ? '请输入手机号码' : mobile.error, mobile: fields.mobile });
    }
    await mobiles.save(openid, mobile.mobile);
    return verified(ctx, handler, false, false, { mobileFlash: '已保存，证书到期前微信无法送达时将发送短信提醒' });
  });

  // FaceID sends the user back with its BizToken in the address: no Referer from it.
  router.get('/h5/handler/callback', pagePolicy({ noReferrer: true }), auth, async (ctx) => {
    const ref = typeof ctx.query.ref === 'string' ? ctx.query.ref : '';
    const outcome = await service.finish(wechatUserOf(ctx).openid, ref);
    if (outcome.kind === 'passed') return verified(ctx, outcome.handler, true);
    // An older attempt's link (history, a bookmark) after a later one passed: the handler's state now is what counts.
    const current = await service.verifiedOf(wechatUserOf(ctx).openid);
    if (current) return verified(ctx, current, false, true);
    page(ctx, 'h5/handler-result.njk', { title: '经办人认证 - 数安CA管家', outcome: outcome.kind, message: outcome.message, ref });
  });

  return router;
}
