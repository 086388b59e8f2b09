import Router from '@koa/router';
import { type Deps } from '../../deps';
import { NotFoundError, ValidationError } from '../../lib/errors';
import { sendCsv } from '../../lib/http/csv';
import { type RenderPage } from '../../lib/views';
import { approvals } from '../console/approvals';
import { consoleAudit } from '../console/audit';
import { readConsoleForm } from '../console/form';
import { operatorOf, requireRole } from '../console/guard';
import { pagerOf, parsePage } from '../console/paging';
import { type ConsoleSection } from '../console/sections';
import { refundKind } from './approval';
import { REFUND_KIND_LABELS, REFUND_STATE_LABELS, REFUND_TODO, RefundConsole, yuanText } from './console';

/** '200' or '200.5' or '200.50' yuan → fen; anything else is refused. */
function fenOf(text: string): number {
  const m = /^(\d{1,9})(?:\.(\d{1,2}))?$/.exec(text.trim());
  if (!m) throw new ValidationError('请填写退款金额（元，最多两位小数）', `bad refund amount ${text.slice(0, 20)}`);
  return Number(m[1]) * 100 + Number((m[2] ?? '0').padEnd(2, '0'));
}

function filterOf(query: Record<string, unknown>): { state: string; orderNo: string } {
  return {
    state: typeof query.state === 'string' && query.state in REFUND_STATE_LABELS ? query.state : '',
    orderNo: typeof query.orderNo === 'string' ? query.orderNo.trim().slice(0, 32) : '',
  };
}

function refundRoutes(deps: Deps, render: RenderPage): Router {
  const router = new Router();
  const finance = requireRole('finance');
  const refunds = new RefundConsole(deps);

  router.get('/refunds', finance, async (ctx) => {
    const page = parsePage(ctx.query);
    const { state, orderNo } = filterOf(ctx.query);
    const [{ items, total }, open, proposals] = await Promise.all([
      refunds.list({ state, orderNo }, page.page, page.pageSize),
      refunds.exceptions(),
      approvals(deps).list({ kind: refundKind.kind, status: 'PROPOSED', offset: 0, pageSize: 50 }),
    ]);
    ctx.body = render('console/finance/refunds.njk', {
      title: '退款', items, open, proposals: proposals.rows, state, orderNo, states: REFUND_STATE_LABELS, kinds: REFUND_KIND_LABELS, todo: REFUND_TODO, yuan: yuanText,
      pager: pagerOf(page, total, '/refunds', { state, orderNo }),
    });
  });

  router.get('/refunds/export.csv', finance, async (ctx) => {
    const { state, orderNo } = filterOf(ctx.query);
    const { items, total } = await refunds.list({ state, orderNo }, 1, 10_000);
    const rows = items.map((r) => [r.outRefundNo, r.orderNo, REFUND_KIND_LABELS[r.kind] ?? r.kind, yuanText(r.amountFen), REFUND_STATE_LABELS[r.state], r.reason, r.createdAt, r.settledAt, r.resolvedBy ?? '']);
    await consoleAudit(deps).record(ctx, { action: 'export', subject: 'refunds', detail: { state, orderNo, rows: rows.length, total } });
    sendCsv(ctx, '退款.csv', ['退款单号', '订单', '类型', '金额（元）', '状态', '原因', '创建（UTC）', '完成（UTC）', '人工处理人'], rows);
  });

  // Proposes a refund; a second 财务 approves it on /approvals, and only then is WeChat Pay asked.
  router.post('/refunds', finance, async (ctx) => {
    const form = await readConsoleForm(ctx);
    const orderNo = (form.orderNo ?? '').trim();
    if (!orderNo) throw new ValidationError('请填写要退款的订单号', 'refund without order');
    const reason = (form.reason ?? '').trim();
    const { id } = await approvals(deps).propose(ctx, refundKind.kind, { orderNo, amountFen: fenOf(form.amount ?? ''), reason }, reason);
    ctx.redirect(`/approvals/${id}`);
  });

  // A refund exception the operator handled by hand (merchant platform, bank): it leaves the list; the record stays.
  router.post('/refunds/:outRefundNo/resolve', finance, async (ctx) => {
    const form = await readConsoleForm(ctx);
    const note = (form.note ?? '').trim();
    if (!note) throw new ValidationError('请写明是如何处理的（例如商户平台退款单号或银行流水号）', 'refund resolve without note');
    const outRefundNo = ctx.params.outRefundNo;
    const before = await refunds.byNumber(outRefundNo);
    if (!before || !(await refunds.resolve(outRefundNo, operatorOf(ctx).username))) throw new NotFoundError('没有待处理的退款异常', `no open refund exception ${outRefundNo}`);
    await consoleAudit(deps).record(ctx, { action: 'refund.resolve', subject: `refund:${outRefundNo}`, before: { state: before.state, resolvedAt: null }, after: { resolved: true, note }, detail: { orderNo: before.orderNo } });
    ctx.redirect('/refunds');
  });
  return router;
}

/** 退款: WeChat Pay refunds proposed and approved (four-eyes), the automatic refunds and the ones a person must handle. */
export const refundsSection: ConsoleSection = {
  path: '/refunds',
  title: '退款',
  roles: ['finance'],
  routes: refundRoutes,
  approvalKinds: [refundKind],
};
