import { renewalAddress } from '../renewals/phone-view';
import Router from '@koa/router';
import type Koa from 'koa';
import getRawBody from 'raw-body';
import { type Deps } from '../../deps';
import { csrfToken, verifyCsrf } from '../../lib/http/csrf';
import { readForm } from '../../lib/http/form';
import { type RenderPage } from '../../lib/views';
import { NotifyRefused, sandboxCashierUrl } from '../../providers/wechatpay';
import { requireRealUser, requireWechatUser, wechatUserOf } from '../oauth/middleware';
import { OAuthService } from '../oauth/service';
import { PaymentMismatch, PaymentService } from './service';

const NOTIFY_BODY_LIMIT = '64kb';

const fail = (ctx: Koa.Context, status: number, message: string) => {
  ctx.status = status;
  ctx.body = { code: 'FAIL', message };
};

/**
 * `POST /pay/wechat/notify`: WeChat Pay's payment and refund notifies. Verified over the raw body (signature by
 * Wechatpay-Serial, ±5 min, AES-GCM tag) before anything is read from it. Answers: 204 when handled (also for a
 * duplicate, which changes nothing); 4xx `{"code":"FAIL"}` when the notify is not believable (forged, stale,
 * not ours) — retrying cannot make it so; 5xx when our side failed, so WeChat Pay tries again.
 */
export function paymentNotifyRoutes(deps: Deps): Router {
  const router = new Router();
  const payments = new PaymentService(deps);
  router.post('/pay/wechat/notify', async (ctx) => {
    let raw: string;
    try {
      raw = await getRawBody(ctx.req, { limit: NOTIFY_BODY_LIMIT, encoding: 'utf8', length: ctx.get('content-length') || undefined });
    } catch {
      return fail(ctx, 413, 'body unreadable or too large');
    }
    let notify;
    try {
      notify = deps.wechatpay.verifyNotify(ctx.req.headers, raw);
    } catch (err) {
      if (!(err instanceof NotifyRefused)) throw err;
      deps.logger.warn({ reason: err.reason, probe: err.probe }, 'wechat pay notify refused');
      return fail(ctx, 401, `verification failed: ${err.reason}`);
    }
    try {
      if (notify.kind === 'transaction') {
        const result = await payments.credit(notify.transaction);
        deps.logger.info({ orderNo: notify.transaction.out_trade_no, result: result.kind === 'credited' ? result.outcome : result.tradeState }, 'wechat pay notify handled');
      } else {
        // REFUND.SUCCESS / ABNORMAL / CLOSED: the refund's record follows it (an order's refund ends the order).
        const mchid = (notify.refund as { mchid?: string }).mchid;
        if (mchid !== undefined && mchid !== deps.wechatpay.mchId) throw new PaymentMismatch('wrong-mchid', `refund notify for mchid ${mchid}`);
        const refund = await payments.refunds.apply(notify.refund, await payments.orderNoOf(notify.refund.out_trade_no));
        deps.logger.info({ orderNo: refund.orderNo, outRefundNo: refund.outRefundNo, event: notify.event_type, state: refund.state }, 'wechat pay refund notify handled');
      }
    } catch (err) {
      if (err instanceof PaymentMismatch) {
        deps.logger.error({ reason: err.reason, detail: err.message }, 'verified wechat pay notify does not match our order: not credited');
        return fail(ctx, 400, err.reason);
      }
      deps.logger.error({ err }, 'wechat pay notify failed on our side; WeChat Pay will retry');
      return fail(ctx, 500, 'internal error');
    }
    ctx.status = 204;
  });
  return router;
}

/**
 * The H5 side of paying an order with WeChat Pay: the pay button (JSAPI inside WeChat; the sandbox cashier in
 * sandbox mode) and the page the user returns to, which waits on the server's word, never on the client's.
 */
export function paymentPageRoutes(deps: Deps, render: RenderPage): Router {
  const router = new Router();
  const auth = requireWechatUser(new OAuthService(deps));
  const payments = new PaymentService(deps);
  const sandbox = deps.config.wechatpay.mode === 'sandbox';
  const base = deps.config.publicBaseUrl;

  router.post('/h5/orders/:no/pay/wechat', auth, requireRealUser(), async (ctx) => {
    verifyCsrf(ctx, await readForm(ctx));
    const orderNo = String(ctx.params.no);
    const params = await payments.jsapiParams(orderNo, wechatUserOf(ctx).openid);
    const returnUrl = `${base}/h5/orders/${encodeURIComponent(orderNo)}/paid`;
    if (sandbox) return ctx.redirect(sandboxCashierUrl(base, params, returnUrl));
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = render('h5/pay-wechat.njk', { title: '微信支付 - 数安CA管家', user: wechatUserOf(ctx), params, returnUrl, orderNo });
  });

  router.get('/h5/orders/:no/paid', auth, async (ctx) => {
    const orderNo = String(ctx.params.no);
    await payments.orders.findOrder(orderNo, wechatUserOf(ctx).openid); // 404 for someone else's order
    const order = await payments.reconcile(orderNo).catch(() => payments.orders.getOrder(orderNo));
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = render('h5/paid.njk', {
      title: '支付结果 - 数安CA管家', sandbox, user: wechatUserOf(ctx), order, cancelled: ctx.query.wechatpay === 'cancel', csrf: csrfToken(ctx, deps.random),
      renewalUrl: renewalAddress(base),
    });
  });

  return router;
}
