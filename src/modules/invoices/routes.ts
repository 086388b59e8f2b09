import Router from '@koa/router';
import type Koa from 'koa';
import { type Deps } from '../../deps';
import { AppError, NotFoundError } from '../../lib/errors';
import { csrfToken, verifyCsrf } from '../../lib/http/csrf';
import { readForm } from '../../lib/http/form';
import { pagePolicy, WECHAT_JS_SDK } from '../../lib/http/security-headers';
import { type RenderPage } from '../../lib/views';
import { jsSdkConfig, type JsSdkConfig } from '../../providers/wechat-api/js-sdk';
import { requireRealUser, requireWechatUser, wechatUserOf } from '../oauth/middleware';
import { OAuthService } from '../oauth/service';
import { yuan } from '../renewal-orders/view-model';
import { ACCEPTANCE_NO } from './numbers';
import { INVOICE_FORM_MESSAGES, type InvoiceFormField, parseOrderSelection, titleDiffersFromOrganisation, validateInvoiceForm } from './schemas';
import { type InvoiceableOrder, type InvoiceDetail, InvoiceService, type InvoiceSummary, type SavedTitle } from './service';

/**
 * 我的发票 (seed 四, issue 11): 待开票 (the handler's paid orders, multi-select) and 开票历史 on one page with two tabs;
 * the form for the ticked orders; the detail page with the copyable invoice link. Everything is looked up through
 * InvoiceService by openid: another handler's order or request is a 404, exactly like a missing one.
 */
const PAGE_SIZE = 20;
const FORM_FIELDS: readonly InvoiceFormField[] = ['buyerKind', 'title', 'taxId', 'bankName', 'bankAccount', 'address', 'phone', 'email', 'mobile'];
const TITLE_WARNING = '发票抬头与证书上的单位名称不一致，请确认无误后再提交（仍可开具）';
const isWechatBrowser = (ctx: Koa.Context) => /MicroMessenger/i.test(ctx.get('user-agent'));
const orderNosOf = (value: unknown): string[] => (Array.isArray(value) ? value : String(value ?? '').split(',')).map((v) => String(v).trim()).filter(Boolean);

/** Beijing time to the second, as the seed's 开票时间 (2023-…  11:42:20). */
const beijing = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
const formatDateTime = (d: Date) => beijing.format(d).replace(',', '');

const summaryView = (s: InvoiceSummary) => ({
  acceptanceNo: s.acceptanceNo, title: s.title, status: s.status, statusLabel: s.statusLabel, red: s.direction === 'red',
  invoiceNumber: s.invoiceNumber, invoiceCode: s.invoiceCode, issuedAt: s.issuedAt ? formatDateTime(s.issuedAt) : null,
  requestedAt: formatDateTime(s.requestedAt), totalYuan: yuan(s.totalFen),
});
const orderView = (o: InvoiceableOrder) => ({
  orderNo: o.orderNo, amountFen: o.amountFen, amountYuan: yuan(o.amountFen), paidAt: formatDateTime(o.paidAt), organisation: o.organisation, certificateCount: o.certificateCount,
});
const savedTitleView = (t: SavedTitle) => ({ id: t.id, label: t.buyer.title, kind: t.buyer.buyerKind, fields: JSON.stringify(t.buyer) });

export function invoiceRoutes(deps: Deps, render: RenderPage): Router {
  const router = new Router();
  const auth = requireWechatUser(new OAuthService(deps));
  const invoices = new InvoiceService(deps);
  const { sandbox } = deps.config;
  // The form page loads WeChat's JS-SDK (jweixin) from res.wx.qq.com: only that page's policy allows it.
  const formPolicy = pagePolicy({ scripts: [WECHAT_JS_SDK] });

  const page = (ctx: Koa.Context, template: string, data: Record<string, unknown>) => {
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = render(template, { sandbox, user: wechatUserOf(ctx), ...data });
  };

  /** wx.config for this page, inside WeChat only; without a ticket (WeChat unreachable) the page works without the button. */
  const jsSdkFor = async (ctx: Koa.Context): Promise<JsSdkConfig | undefined> => {
    if (!isWechatBrowser(ctx)) return undefined;
    try {
      const jsapiTicket = await deps.wechatApi.getJsapiTicket();
      return jsSdkConfig({ appId: deps.config.wechat.appId, jsapiTicket, url: `${deps.config.publicBaseUrl}${ctx.originalUrl}`, nowMs: deps.clock.nowMs(), random: deps.random });
    } catch (err) {
      deps.logger.warn({ err }, 'no jsapi_ticket: the invoice form is shown without 选择微信发票抬头');
      return undefined;
    }
  };

  /** The form for the chosen orders; `values`/`errors` when it comes back refused. */
  const invoiceForm = async (ctx: Koa.Context, orderNos: string[], state: { values?: Record<string, string>; errors?: Record<string, string>; error?: string } = {}) => {
    const openid = wechatUserOf(ctx).openid;
    const all = await invoices.listInvoiceable(openid);
    const chosen = all.filter((o) => orderNos.includes(o.orderNo));
    if (chosen.length === 0) return ctx.redirect('/h5/invoices?gone=1');
    const suggestions = await invoices.titleSuggestions(openid, chosen.map((o) => o.orderNo));
    const values: Record<string, string> = state.values ?? Object.fromEntries(Object.entries({ buyerKind: 'organisation', ...suggestions.prefill }).map(([k, v]) => [k, String(v ?? '')]));
    const differs = !!values.title && suggestions.organisations.length > 0 && suggestions.organisations.every((org) => titleDiffersFromOrganisation(values.title, org));
    page(ctx, 'h5/invoice-form.njk', {
      title: '开票 - 数安CA管家', csrf: csrfToken(ctx, deps.random), orders: chosen.map(orderView), orderNos: chosen.map((o) => o.orderNo).join(','),
      totalYuan: yuan(chosen.reduce((sum, o) => sum + o.amountFen, 0)), values, errors: state.errors ?? {}, error: state.error,
      organisations: suggestions.organisations, recent: suggestions.recent.map(savedTitleView), titleWarning: differs ? TITLE_WARNING : undefined,
      messages: INVOICE_FORM_MESSAGES, titleWarningText: TITLE_WARNING, jsSdk: await jsSdkFor(ctx),
      sandboxTitles: sandbox && deps.sandboxWechat ? deps.sandboxWechat.invoiceTitlesOf(wechatUserOf(ctx).openid) : undefined,
    });
  };

  const ownRequest = async (ctx: Koa.Context): Promise<InvoiceDetail> => {
    const acceptanceNo = String(ctx.params.acceptanceNo);
    if (!ACCEPTANCE_NO.test(acceptanceNo)) throw new NotFoundError('发票申请不存在', 'malformed acceptance number');
    return invoices.detail(wechatUserOf(ctx).openid, acceptanceNo);
  };

  /** The two tabs; `notice` says why the user is back here (a selection that cannot be invoiced). */
  const listPage = async (ctx: Koa.Context, notice?: string) => {
    const openid = wechatUserOf(ctx).openid;
    const tab = ctx.query.tab === 'history' ? 'history' : 'pending';
    const requested = Number(ctx.query.page);
    const pageNo = Number.isSafeInteger(requested) && requested > 0 ? requested : 1;
    const [pending, history] = await Promise.all([
      tab === 'pending' ? invoices.listInvoiceable(openid) : Promise.resolve([]),
      tab === 'history' ? invoices.history(openid, pageNo, PAGE_SIZE) : Promise.resolve(undefined),
    ]);
    page(ctx, 'h5/invoices.njk', {
      title: '我的发票 - 数安CA管家', tab, orders: pending.map(orderView), history: history && { ...history, items: history.items.map(summaryView) },
      notice: notice ?? (ctx.query.gone === '1' ? '所选订单已开票或不可开票，请重新选择' : undefined),
    });
  };

  router.get('/h5/invoices', auth, (ctx) => listPage(ctx));

  router.get('/h5/invoices/new', auth, formPolicy, async (ctx) => {
    const selection = parseOrderSelection(orderNosOf(ctx.query.orderNos));
    // None ticked, too many, or a tampered list: 待开票 again, saying which.
    if (!selection.ok) return listPage(ctx, selection.message);
    await invoiceForm(ctx, selection.orderNos);
  });

  router.post('/h5/invoices', auth, requireRealUser(), formPolicy, async (ctx) => {
    const fields = await readForm(ctx);
    verifyCsrf(ctx, fields);
    const values = Object.fromEntries(FORM_FIELDS.map((f) => [f, fields[f] ?? '']));
    const selection = parseOrderSelection(orderNosOf(fields.orderNos));
    if (!selection.ok) return ctx.redirect('/h5/invoices?gone=1');
    // An individual has no tax ID to check: a value left in the hidden field is not theirs to fix.
    const checked = validateInvoiceForm(values.buyerKind === 'individual' ? { ...values, taxId: '' } : values);
    if (!checked.ok) {
      deps.logger.info({ detail: checked.detail }, 'invoice form refused');
      ctx.status = 422;
      return invoiceForm(ctx, selection.orderNos, { values, errors: checked.errors as Record<string, string> });
    }
    try {
      const result = await invoices.request(wechatUserOf(ctx).openid, { orderNos: selection.orderNos, buyer: checked.form });
      ctx.redirect(`/h5/invoices/${result.acceptanceNo}?created=1${result.titleWarning ? '&warned=1' : ''}`);
    } catch (err) {
      if (!(err instanceof AppError) || err.status >= 500 || err.status === 401) throw err;
      ctx.status = err.status;
      await invoiceForm(ctx, selection.orderNos, { values, error: err.userMessage });
    }
  });

  router.get('/h5/invoices/:acceptanceNo', auth, async (ctx) => {
    const detail = await ownRequest(ctx);
    const b = detail.buyer;
    page(ctx, 'h5/invoice.njk', {
      title: '发票详情 - 数安CA管家', csrf: csrfToken(ctx, deps.random), invoice: summaryView(detail), detail,
      buyer: { ...b, kindLabel: b.buyerKind === 'individual' ? '个人' : '单位' },
      lines: detail.lines.map((l) => ({ ...l, totalYuan: yuan(l.totalFen), amountYuan: yuan(l.amountFen), taxYuan: yuan(l.taxFen) })),
      amountYuan: yuan(detail.amountFen), taxYuan: yuan(detail.taxFen), inWechat: isWechatBrowser(ctx), hasOfd: detail.files.some((f) => f.kind === 'ofd'),
      flash: ctx.query.created === '1' ? '开票申请已提交' : ctx.query.resent === '1' ? `发票已重新发送至 ${b.email}` : undefined,
      warned: ctx.query.warned === '1' ? TITLE_WARNING.replace('，请确认无误后再提交（仍可开具）', '，已按您填写的抬头开具') : undefined,
    });
  });

  router.post('/h5/invoices/:acceptanceNo/resend', auth, requireRealUser(), async (ctx) => {
    const fields = await readForm(ctx);
    verifyCsrf(ctx, fields);
    const detail = await ownRequest(ctx);
    await invoices.resendEmail(wechatUserOf(ctx).openid, detail.acceptanceNo);
    ctx.redirect(`/h5/invoices/${detail.acceptanceNo}?resent=1`);
  });

  // PIPL: a saved title is kept only while wanted; the form lists them with a delete button.
  router.post('/h5/invoices/titles/:id/delete', auth, requireRealUser(), async (ctx) => {
    const fields = await readForm(ctx);
    verifyCsrf(ctx, fields);
    const id = Number(ctx.params.id);
    if (!Number.isSafeInteger(id) || id <= 0 || !(await invoices.deleteSavedTitle(wechatUserOf(ctx).openid, id))) throw new NotFoundError('常用抬头不存在', 'no such saved title');
    const back = parseOrderSelection(orderNosOf(fields.orderNos));
    ctx.redirect(back.ok ? `/h5/invoices/new?orderNos=${back.orderNos.map(encodeURIComponent).join(',')}` : '/h5/invoices');
  });

  return router;
}
