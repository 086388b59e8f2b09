import { renewalAddress } from '../renewals/phone-view';
import Router from '@koa/router';
import type Koa from 'koa';
import { In } from 'typeorm';
import { type Deps } from '../../deps';
import { AppError, NotFoundError } from '../../lib/errors';
import { csrfToken, verifyCsrf } from '../../lib/http/csrf';
import { readForm } from '../../lib/http/form';
import { type RenderPage } from '../../lib/views';
import { CertificateEntity } from '../certificates/entities';
import { formatDateTime } from '../certificates/view-model';
import { certificateServiceFor } from '../certificates/service';
import { requireVerifiedHandler } from '../handlers/routes';
import { requireRealUser, requireWechatUser, wechatUserOf } from '../oauth/middleware';
import { OAuthService } from '../oauth/service';
import { type OrderWithLines } from '../orders/repository';
import { RenewalPreview } from '../orders/renewal-preview';
import { OpenOrderExistsError, type OrderItem, OrderService } from '../orders/service';
import { OrderNoticeStore, toNoticeView } from '../payments/undelivered-notices';
import { orderTransferOf } from '../transfers/order-transfer';
import { TransferService } from '../transfers/service';
import { isOrderNo, parseRenewForm } from './schemas';
import { toOptionView, toOrderView, yuan } from './view-model';

/**
 * 续期缴费 (seed 四): choose certificates and terms, get a server-priced order, pay it by 微信支付 or 对公汇款;
 * and the handler's order history. Orders are looked up by number AND openid: another handler's order is a
 * 404, exactly like a missing one.
 */
export function renewalOrderRoutes(deps: Deps, render: RenderPage): Router {
  const router = new Router();
  const auth = requireWechatUser(new OAuthService(deps));
  const orders = new OrderService(deps);
  const preview = new RenewalPreview(deps);
  const transfers = new TransferService(deps);
  const rules = certificateServiceFor(deps).rules;
  const notices = new OrderNoticeStore(deps.db);
  const sandbox = deps.config.sandbox;
  const now = () => new Date(deps.clock.nowMs());
  // Seed 四: the first order needs the handler's liveness check; the choice page is guarded too, so nobody picks
  // certificates only to be refused on submit (GET goes to the check and comes back).
  const verified = requireVerifiedHandler(deps);

  const page = (ctx: Koa.Context, template: string, data: Record<string, unknown>) => {
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = render(template, { sandbox, user: wechatUserOf(ctx), ...data });
  };

  const renewForm = async (ctx: Koa.Context, data: { error?: string; errorOrderNo?: string; chosen?: OrderItem[]; preselect?: number }) => {
    const options = (await preview.renewalOptions(wechatUserOf(ctx).openid, now())).map((o) => toOptionView(o, rules, now()));
    const chosen = new Map((data.chosen ?? (data.preselect ? [{ certificateId: data.preselect, years: 1 }] : [])).map((i) => [i.certificateId, i.years]));
    const orderable = options.filter((o) => o.orderable);
    // With a single orderable certificate there is nothing to choose: it is ticked.
    if (!data.chosen && orderable.length === 1) chosen.set(orderable[0].card.id, chosen.get(orderable[0].card.id) ?? 1);
    page(ctx, 'h5/renew.njk', {
      title: '续期缴费 - 数安CA管家', csrf: csrfToken(ctx, deps.random), options: [...orderable, ...options.filter((o) => !o.orderable)],
      chosen: Object.fromEntries(chosen), hasOrderable: orderable.length > 0, error: data.error, errorOrderNo: data.errorOrderNo,
    });
  };

  const ownOrder = async (ctx: Koa.Context): Promise<OrderWithLines> => {
    const orderNo = String(ctx.params.orderNo);
    if (!isOrderNo(orderNo)) throw new NotFoundError('订单不存在', 'malformed order number');
    return orders.findOrder(orderNo, wechatUserOf(ctx).openid);
  };

  const certificatesOf = async (list: OrderWithLines[]) => {
    const ids = [...new Set(list.flatMap((o) => o.lines.map((l) => l.certificateId)))];
    const rows = ids.length ? await deps.db.getRepository(CertificateEntity).find({ where: { id: In(ids) } }) : [];
    return new Map(rows.map((c) => [c.id, c]));
  };

  router.get('/h5/renew', auth, verified, async (ctx) => {
    const cert = Number(ctx.query.cert);
    await renewForm(ctx, { preselect: Number.isSafeInteger(cert) && cert > 0 ? cert : undefined });
  });

  router.post('/h5/renew', auth, requireRealUser(), verified, async (ctx) => {
    const fields = await readForm(ctx);
    verifyCsrf(ctx, fields);
    let items: OrderItem[] | undefined;
    try {
      items = parseRenewForm(fields);
      const order = await orders.createOrder({ openid: wechatUserOf(ctx).openid, items, at: now() });
      ctx.redirect(`/h5/orders/${order.orderNo}?created=1`);
    } catch (err) {
      // Refusals go back to the form with the choice kept; anything else is the error page.
      if (!(err instanceof AppError) || err.status >= 500 || err.status === 401) throw err;
      ctx.status = err.status;
      const errorOrderNo = err instanceof OpenOrderExistsError ? err.orderNo ?? undefined : undefined;
      await renewForm(ctx, { error: err.userMessage, errorOrderNo, chosen: items ?? [] });
    }
  });

  router.get('/h5/orders', auth, async (ctx) => {
    const list = await orders.listOrders(wechatUserOf(ctx).openid);
    const certs = await certificatesOf(list);
    // Notices WeChat could not deliver (43004) point at their order until it is opened.
    const unseen = (await notices.unseenOf(wechatUserOf(ctx).openid)).map(toNoticeView);
    page(ctx, 'h5/orders.njk', { title: '我的订单 - 数安CA管家', orders: list.map((o) => toOrderView(o, certs, now())), notices: unseen });
  });

  router.get('/h5/orders/:orderNo', auth, async (ctx) => {
    const order = await ownOrder(ctx);
    // What a template message would have said, had the user still followed (43004); shown once, a rejected
    // transfer for as long as the order still waits for money.
    const shown = await notices.visibleFor(order.orderNo, order.openid, order.state === 'PENDING_PAYMENT');
    // 对公汇款 chosen: the page shows the code, the payee and any transfer turned down (汇款未通过), not the choice again.
    const transfer = order.paymentMethod === 'transfer' ? await orderTransferOf(deps.db, order.orderNo) : null;
    // The page's own 汇款未通过 section says what the undelivered message would have: shown once, not twice.
    const rejectionShown = !!transfer?.rejection && order.state !== 'PAID' && order.state !== 'FULFILLED';
    const undeliveredRejection = rejectionShown && shown.some((n) => n.kind === 'transfer-rejected');
    page(ctx, 'h5/order.njk', {
      rejectionShown, undeliveredRejection,
      payee: deps.config.transfer,
      transfer: transfer && {
        ...transfer,
        rejection: transfer.rejection && { ...transfer.rejection, at: formatDateTime(transfer.rejection.at), amountYuan: transfer.rejection.amountFen === null ? null : yuan(transfer.rejection.amountFen) },
      },
      title: '订单详情 - 数安CA管家', order: toOrderView(order, await certificatesOf([order]), now()), csrf: csrfToken(ctx, deps.random),
      renewalUrl: renewalAddress(deps.config.publicBaseUrl),
      // The query survives reloads and the back button: say only what is still true.
      flash: ctx.query.created === '1' && order.state === 'PENDING_PAYMENT' ? '订单已创建，请选择支付方式' : ctx.query.cancelled === '1' && order.state === 'CLOSED' ? '订单已取消' : undefined,
      notices: shown.filter((n) => !(rejectionShown && n.kind === 'transfer-rejected')).map(toNoticeView),
    });
    await notices.markSeen(shown.filter((n) => !n.seenAt).map((n) => n.id), now());
  });

  router.post('/h5/orders/:orderNo/cancel', auth, requireRealUser(), async (ctx) => {
    const fields = await readForm(ctx);
    verifyCsrf(ctx, fields);
    const order = await ownOrder(ctx);
    await orders.cancel(order.orderNo, order.openid, now());
    ctx.redirect(`/h5/orders/${order.orderNo}?cancelled=1`);
  });

  // Choosing 对公汇款 changes the order (payment method, a 7-day deadline): a POST with the form's CSRF token, never
  // a link a page elsewhere could make the browser follow.
  router.post('/h5/orders/:orderNo/transfer', auth, requireRealUser(), async (ctx) => {
    const fields = await readForm(ctx);
    verifyCsrf(ctx, fields);
    const order = await ownOrder(ctx);
    // Only an order that can still be paid gets a code; the order page says what happened to the others.
    if (!toOrderView(order, await certificatesOf([order]), now()).payable) return ctx.redirect(`/h5/orders/${order.orderNo}`);
    await transfers.codeFor(order.orderNo, order.openid, now());
    ctx.redirect(`/h5/orders/${order.orderNo}/transfer`);
  });

  // Shows the transfer details of an order that chose 对公汇款; any other order goes to its page, where the choice is.
  router.get('/h5/orders/:orderNo/transfer', auth, requireRealUser(), async (ctx) => {
    const order = await ownOrder(ctx);
    const view = toOrderView(order, await certificatesOf([order]), now());
    const code = view.payable && order.paymentMethod === 'transfer' ? await transfers.existingCode(order.id) : null;
    if (!code) return ctx.redirect(`/h5/orders/${order.orderNo}`);
    const { transfer } = deps.config;
    page(ctx, 'h5/order-transfer.njk', {
      title: '对公汇款 - 数安CA管家', order: view, code: code.code, payer: code.organizationName, amountYuan: yuan(order.totalFen), payee: transfer,
    });
  });

  return router;
}
