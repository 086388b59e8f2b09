import Router from '@koa/router';
import type Koa from 'koa';
import { type Deps } from '../../deps';
import { NotFoundError } from '../../lib/errors';
import { csrfToken, verifyCsrf } from '../../lib/http/csrf';
import { readForm } from '../../lib/http/form';
import { type RenderPage } from '../../lib/views';
import { BindingRepository } from '../binding/repository';
import { BindingService } from '../binding/service';
import { requireRealUser, requireWechatUser, wechatUserOf } from '../oauth/middleware';
import { OAuthService } from '../oauth/service';
import { renewalAddress, renewalViewsOf } from '../renewals/phone-view';
import { pagePolicy, WECHAT_JS_SDK } from '../../lib/http/security-headers';
import { subscribeOffer } from '../reminders/subscribe-offer';
import { certificateServiceFor } from './service';
import { type CertificateCard, toCard, toDetail } from './view-model';

const RENEWAL_RANK = { open: 0, 'not-yet': 1, closed: 2 } as const;
/** Most urgent first: those that can be renewed now (soonest expiry first), then the rest by expiry. */
const byUrgency = (cards: CertificateCard[]) =>
  [...cards].sort((a, b) => RENEWAL_RANK[a.renewal.state] - RENEWAL_RANK[b.renewal.state] || a.daysLeft - b.daysLeft);

/**
 * 我的数字证书 (seed 六): the certificates bound to this openid, and each one's detail with 解除绑定.
 * A certificate not bound to the caller is a 404, never a 403: ids must not be probeable.
 */
export function certificateRoutes(deps: Deps, render: RenderPage): Router {
  const router = new Router();
  const auth = requireWechatUser(new OAuthService(deps));
  const rules = certificateServiceFor(deps).rules;
  const bindings = new BindingRepository();
  const binding = new BindingService(deps);
  const sandbox = deps.config.sandbox;
  const now = () => new Date(deps.clock.nowMs());

  const page = (ctx: Koa.Context, template: string, data: Record<string, unknown>) => {
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = render(template, { sandbox, user: wechatUserOf(ctx), ...data });
  };

  const ownCertificate = async (ctx: Koa.Context) => {
    const id = Number(ctx.params.id);
    const openid = wechatUserOf(ctx).openid;
    const mine = Number.isSafeInteger(id) && id > 0
      ? (await bindings.certificatesOf(deps.db.manager, openid, { includeSandbox: sandbox })).find((c) => c.certificate.id === id)
      : undefined;
    if (!mine) throw new NotFoundError('未找到该证书，可能已解除绑定', `certificate ${ctx.params.id} is not bound to this openid`);
    return mine;
  };

  router.get('/h5/certs', auth, async (ctx) => {
    const mine = await bindings.certificatesOf(deps.db.manager, wechatUserOf(ctx).openid, { includeSandbox: sandbox });
    const { paid } = await renewalViewsOf(deps.db.manager, mine.map((m) => m.certificate.id));
    page(ctx, 'h5/certs.njk', {
      title: '我的数字证书 - 数安CA管家', certs: byUrgency(mine.map((m) => toCard(m.certificate, rules, now()))), flash: ctx.query.unbound === '1' ? '已解除绑定' : undefined,
      paid: Object.fromEntries(paid), anyPaid: paid.size > 0, renewalUrl: renewalAddress(deps.config.publicBaseUrl),
    });
  });

  // The detail page may load WeChat's JS-SDK (订阅通知 opt-in): only this page's policy allows it.
  router.get('/h5/certs/:id', pagePolicy({ scripts: [WECHAT_JS_SDK] }), auth, async (ctx) => {
    const { certificate, binding: b } = await ownCertificate(ctx);
    const { paid, history } = await renewalViewsOf(deps.db.manager, [certificate.id]);
    const detail = toDetail(certificate, b, rules, now());
    page(ctx, 'h5/cert-detail.njk', {
      subscribe: certificate.status === 'valid' && detail.daysLeft >= 0 ? await subscribeOffer(deps, ctx, wechatUserOf(ctx).openid) : undefined,
      title: '证书详情 - 数安CA管家', cert: detail, confirmUnbind: ctx.query.confirm === 'unbind', csrf: csrfToken(ctx, deps.random),
      paid: paid.get(certificate.id), history: history.get(certificate.id) ?? [], renewalUrl: renewalAddress(deps.config.publicBaseUrl),
    });
  });

  router.post('/h5/certs/:id/unbind', auth, requireRealUser(), async (ctx) => {
    const form = await readForm(ctx);
    verifyCsrf(ctx, form);
    const { certificate } = await ownCertificate(ctx);
    await binding.unbind(wechatUserOf(ctx).openid, certificate.id);
    ctx.redirect('/h5/certs?unbound=1');
  });

  return router;
}
