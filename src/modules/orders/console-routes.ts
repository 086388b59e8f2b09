import Router from '@koa/router';
import type Koa from 'koa';
import { type Deps } from '../../deps';
import { sendCsv } from '../../lib/http/csv';
import { NotFoundError, ValidationError } from '../../lib/errors';
import { type RenderPage } from '../../lib/views';
import { consoleAudit } from '../console/audit';
import { dashboardAssets } from '../dashboard/assets';
import { requireRole, requireStepUp } from '../console/guard';
import { type ConsoleSection } from '../console/sections';
import { ORDER_NO_PATTERN } from './order-number';
import { OrderSearch, type OrderSearchQuery, SEARCH_KIND_LABELS, type SearchKind } from './search';
import { ORDER_STATES, type OrderState } from './states';
import { OrderTimeline } from './timeline';

/**
 * 订单 in the operator console (issue 12), for 财务 and 客服: the search (search.ts) as a list with filters and keyset
 * pages, its CSV export (openids and organisations: personal data, so a fresh re-authentication first and an audit
 * entry after), and one order's detail with its timeline (timeline.ts).
 */
export const ORDER_STATE_LABELS: Record<OrderState, string> = {
  PENDING_PAYMENT: '待支付', PAID: '已支付', FULFILLED: '已续期', CLOSED: '已关闭', REFUNDING: '退款中', REFUNDED: '已退款',
};
export const PAYMENT_METHOD_LABELS: Record<string, string> = { wechatpay: '微信支付', transfer: '对公汇款' };
/** Rows in one export: beyond this the operator narrows the filters (the file says it was cut). */
export const EXPORT_MAX_ROWS = 10_000;
const DAY_MS = 86_400_000;
const CHINA_OFFSET_MS = 8 * 3_600_000;

/** A China calendar day typed in a date field, as the UTC instant of its midnight (+ `days`). */
function chinaDayStart(value: string | undefined, days = 0): Date | undefined {
  if (!value) return undefined;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(Date.parse(`${value}T00:00:00Z`))) throw new ValidationError('日期格式应为 年-月-日', `bad date ${value.slice(0, 20)}`);
  return new Date(Date.parse(`${value}T00:00:00Z`) - CHINA_OFFSET_MS + days * DAY_MS);
}

const text = (v: unknown) => (typeof v === 'string' ? v.slice(0, 200) : '');

/** The filters as the list's query string carries them, and the search they mean. */
export function filtersOf(query: Record<string, unknown>): { filters: Record<string, string>; search: Omit<OrderSearchQuery, 'after' | 'limit'> } {
  const filters = { q: text(query.q).trim(), kind: text(query.kind), state: text(query.state), method: text(query.method), dateField: text(query.dateField), from: text(query.from), to: text(query.to) };
  const kind = filters.kind in SEARCH_KIND_LABELS ? filters.kind as SearchKind : undefined;
  const state = (ORDER_STATES as readonly string[]).includes(filters.state) ? filters.state as OrderState : undefined;
  const method = filters.method === 'wechatpay' || filters.method === 'transfer' ? filters.method : undefined;
  return {
    filters,
    search: { q: filters.q, kind, state, method, dateField: filters.dateField === 'paid' ? 'paid' : 'created', from: chinaDayStart(filters.from), to: chinaDayStart(filters.to, 1) },
  };
}

const queryString = (filters: Record<string, string>, extra: Record<string, string> = {}) => {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...filters, ...extra })) if (v) params.set(k, v);
  const s = params.toString();
  return s ? `?${s}` : '';
};

const yuan = (fen: number | null) => (fen === null ? '' : (fen / 100).toFixed(2));
const chinaTime = (d: Date | null) => (d ? new Date(d.getTime() + CHINA_OFFSET_MS).toISOString().slice(0, 19).replace('T', ' ') : '');

function orderRoutes(deps: Deps, render: RenderPage): Router {
  const router = new Router();
  const search = new OrderSearch(deps.db);
  const timeline = new OrderTimeline(deps.db);
  const staff = requireRole('finance', 'support');

  router.get('/orders', staff, async (ctx) => {
    const { filters, search: query } = filtersOf(ctx.query);
    const after = text(ctx.query.after) || null;
    const page = await search.search({ ...query, after, limit: 20 });
    ctx.body = render('console/orders/list.njk', {
      title: '订单', filters, page, kinds: SEARCH_KIND_LABELS, states: ORDER_STATE_LABELS, methods: PAYMENT_METHOD_LABELS,
      firstLink: after ? `/orders${queryString(filters)}` : null,
      nextLink: page.next ? `/orders${queryString(filters, { after: page.next })}` : null,
      exportLink: `/orders/export.csv${queryString(filters)}`,
      exportMax: EXPORT_MAX_ROWS, extraVersion: dashboardAssets().version,
    });
  });

  // Openids and organisation names leave the console here: re-authenticated within 5 minutes, and audited.
  router.get('/orders/export.csv', staff, requireStepUp(), async (ctx: Koa.Context) => {
    const { filters, search: query } = filtersOf(ctx.query);
    const { rows, truncated } = await search.all(query, EXPORT_MAX_ROWS);
    const header = ['订单号', '状态', '金额（元）', '支付方式', '创建时间', '支付时间', '单位名称', '统一社会信用代码', 'openid'];
    const body = rows.map((r) => [r.orderNo, ORDER_STATE_LABELS[r.state], yuan(r.totalFen), PAYMENT_METHOD_LABELS[r.paymentMethod ?? ''] ?? '', chinaTime(r.createdAt), chinaTime(r.paidAt),
      r.organisations.map((o) => o.name ?? '').join('；'), r.organisations.map((o) => o.uscc ?? '').join('；'), r.openid]);
    if (truncated) body.push([`（仅导出前 ${EXPORT_MAX_ROWS} 条，请缩小筛选范围后分批导出）`]);
    const stamp = new Date(deps.clock.nowMs() + CHINA_OFFSET_MS).toISOString().slice(0, 16).replace(/[-:T]/g, '');
    sendCsv(ctx, `orders-${stamp}.csv`, header, body);
    await consoleAudit(deps).record(ctx, { action: 'export', subject: 'orders', detail: { filters, rows: rows.length, truncated, personalData: ['openid', '单位名称', '统一社会信用代码'] } });
  });

  router.get('/orders/:no', staff, async (ctx) => {
    const orderNo = String(ctx.params.no).toUpperCase();
    const detail = ORDER_NO_PATTERN.test(orderNo) ? await timeline.detail(orderNo) : null;
    if (!detail) throw new NotFoundError('没有这个订单号', `console: order ${orderNo.slice(0, 40)} not found`);
    ctx.body = render('console/orders/detail.njk', {
      title: `订单 ${detail.order.orderNo}`, detail, states: ORDER_STATE_LABELS, methods: PAYMENT_METHOD_LABELS,
      extraVersion: dashboardAssets().version,
      sourceLabels: { order: '订单', wechatpay: '微信支付', transfer: '对公汇款', refund: '退款', invoice: '发票', renewal: '续期', notice: '通知' },
    });
  });
  return router;
}

export const ordersSection: ConsoleSection = { path: '/orders', title: '订单', roles: ['finance', 'support'], routes: orderRoutes };
