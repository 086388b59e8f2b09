import Router from '@koa/router';
import { type Deps } from '../../deps';
import { type RenderPage } from '../../lib/views';
import { operatorOf, requireRole } from '../console/guard';
import { type OperatorRole } from '../console/roles';
import { type ConsoleSection, consoleSections } from '../console/sections';
import { dashboardAssetRoutes, dashboardAssets } from './assets';
import { DASHBOARD_CACHE_MS, DashboardService } from './service';

/**
 * 概览, the console's home page (issue 12): today's orders and money, the queues waiting for people (transfers,
 * exceptions, failing invoices), certificates expiring within 30 days, and two ECharts charts — renewals per day
 * (30 days) and revenue per week (12 weeks). Every operator sees it (aggregates only, no personal data); a card links
 * to its list only when that list exists in this console and the operator may open it.
 */
const CHINA_OFFSET_MS = 8 * 3_600_000;
const chinaDate = (ms: number) => new Date(ms + CHINA_OFFSET_MS).toISOString().slice(0, 10);

/** The first registered section among `paths` that this operator may open, or null (the card then has no link). */
function listLink(roles: OperatorRole[], paths: string[], query = ''): string | null {
  const section = consoleSections().find((s) => paths.includes(s.path) && s.roles.some((r) => roles.includes(r)));
  return section ? `${section.path}${query}` : null;
}

function dashboardRoutes(deps: Deps, render: RenderPage): Router {
  const router = new Router();
  const service = new DashboardService(deps);
  dashboardAssetRoutes(router);

  router.get('/', requireRole('finance', 'support', 'admin'), async (ctx) => {
    const f = await service.figures();
    const roles = operatorOf(ctx).roles;
    const today = chinaDate(f.takenAt);
    const yuan = (fen: number) => (fen / 100).toLocaleString('zh-CN', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    const cards = [
      { title: '今日订单', value: String(f.ordersToday), unit: '笔', href: listLink(roles, ['/orders'], `?from=${today}&to=${today}`) },
      { title: '今日收款', value: yuan(f.paidTodayFen), unit: `元 · ${f.paidTodayCount} 笔`, href: listLink(roles, ['/orders'], `?dateField=paid&from=${today}&to=${today}`) },
      { title: '待到账的对公汇款', value: String(f.transfersWaiting), unit: '笔', href: listLink(roles, ['/orders'], '?state=PENDING_PAYMENT&method=transfer') },
      { title: '汇款异常', value: String(f.transferExceptions), unit: '条', href: listLink(roles, ['/exceptions']), tone: f.transferExceptions ? 'bad' : '' },
      { title: '退款异常', value: String(f.refundExceptions), unit: '笔', href: listLink(roles, ['/refunds']), tone: f.refundExceptions ? 'bad' : '' },
      { title: '开票失败', value: String(f.invoicesFailing), unit: '张', href: listLink(roles, ['/invoices']), tone: f.invoicesFailing ? 'bad' : '' },
      { title: '30 天内到期证书', value: String(f.certificatesExpiring30), unit: '张', href: listLink(roles, ['/certificates']) },
    ];
    const charts = {
      renewals: { days: f.renewalsPerDay.map((d) => d.day.slice(5)), counts: f.renewalsPerDay.map((d) => d.count) },
      revenue: { weeks: f.revenuePerWeek.map((w) => w.week.slice(5)), yuan: f.revenuePerWeek.map((w) => w.fen / 100) },
    };
    ctx.body = render('console/dashboard/index.njk', {
      title: '概览', cards,
      // Read by dashboard.js from a JSON data block (no inline script under the CSP); '<' escaped so it cannot end the block.
      chartsJson: JSON.stringify(charts).replace(/</g, '\\u003c'), takenAt: new Date(f.takenAt), cacheSeconds: DASHBOARD_CACHE_MS / 1000,
      renewalsTotal: f.renewalsPerDay.reduce((s, d) => s + d.count, 0), revenueTotal: yuan(f.revenuePerWeek.reduce((s, w) => s + w.fen, 0)),
      extraVersion: dashboardAssets().version,
    });
  });
  return router;
}

export const dashboardSection: ConsoleSection = { path: '/', title: '概览', roles: ['finance', 'support', 'admin'], routes: dashboardRoutes };
