import Router from '@koa/router';
import { type Deps } from '../../deps';
import { NotFoundError, ValidationError } from '../../lib/errors';
import { sendCsv } from '../../lib/http/csv';
import { type RenderPage } from '../../lib/views';
import { approvals } from '../console/approvals';
import { consoleAudit } from '../console/audit';
import { readConsoleForm } from '../console/form';
import { operatorOf, requireRole, requireStepUp } from '../console/guard';
import { pagerOf, parsePage } from '../console/paging';
import { type ConsoleSection } from '../console/sections';
import { yuanText } from '../refunds/console';
import { OrderService } from '../orders/service';
import { STATE_LABEL } from '../renewal-orders/view-model';
import { manualCreditKind } from './approval';
import { EXCEPTION_REASONS, type ExceptionView, TransferExceptionService } from './service';

const VIEWS: Record<ExceptionView, string> = { open: '待处理', 'refund-pending': '待退回', done: '已处理' };
const STATE_LABELS: Record<string, string> = { credited: '已人工入账', 'refund-pending': '待退回付款人', refunded: '已退回' };

/** An export holds at most this many lines (the queue is worked daily; more means narrowing the view). */
const MAX_EXPORT_ROWS = 10_000;
const viewOf = (raw: unknown): ExceptionView => (typeof raw === 'string' && raw in VIEWS ? raw : 'open') as ExceptionView;

function lineIdOf(raw: string): number {
  const id = Number(raw);
  if (!Number.isSafeInteger(id) || id <= 0) throw new NotFoundError('没有这条流水', `statement line ${raw}`);
  return id;
}

function exceptionRoutes(deps: Deps, render: RenderPage): Router {
  const router = new Router();
  const finance = requireRole('finance');
  const service = new TransferExceptionService(deps);
  const audit = consoleAudit(deps);
  const orders = new OrderService(deps);

  router.get('/exceptions', finance, async (ctx) => {
    const view = viewOf(ctx.query.view);
    const page = parsePage(ctx.query);
    const { items, total } = await service.list(view, page.page, page.pageSize);
    ctx.body = render('console/finance/exceptions.njk', { title: '异常队列', view, views: VIEWS, items, reasons: EXCEPTION_REASONS, states: STATE_LABELS, yuan: yuanText, pager: pagerOf(page, total, '/exceptions', { view }) });
  });

  // The queue as CSV (payer names and accounts: a re-authenticated operator only, and the export itself audited).
  router.get('/exceptions/export.csv', finance, requireStepUp(), async (ctx) => {
    const view = viewOf(ctx.query.view);
    const { items, total } = await service.list(view, 1, MAX_EXPORT_ROWS);
    const rows = items.map(({ line, resolution }) => [
      line.bankSerial, line.lineDate, line.payerName, line.payerAccount, line.payerBank, yuanText(line.amountFen), line.remark, EXCEPTION_REASONS[line.reason ?? ''] ?? line.reason,
      resolution?.orderNo ?? line.orderNo ?? '', resolution ? STATE_LABELS[resolution.state] : '待处理', resolution?.reason ?? '', resolution?.refundAccount ?? '', resolution?.refundReference ?? '',
    ]);
    await audit.record(ctx, { action: 'export', subject: 'statement-exceptions', detail: { view, rows: rows.length, total } });
    sendCsv(ctx, `异常队列-${VIEWS[view]}.csv`, ['流水号', '交易日期', '付款人', '付款账号', '付款行', '金额（元）', '附言', '原因', '订单', '状态', '处理理由', '退回账号', '退回流水号'], rows);
  });

  router.get('/exceptions/:id', finance, async (ctx) => {
    const { line, resolution } = await service.get(lineIdOf(ctx.params.id));
    const pending = (await approvals(deps).list({ kind: 'manual-credit', offset: 0, pageSize: 100 })).rows
      .filter((p) => (p.payloadObject as { statementLineId?: number }).statementLineId === line.id);
    const orderNo = resolution?.orderNo ?? line.orderNo;
    const order = orderNo ? await orders.getOrderHeader(orderNo) : null;
    ctx.body = render('console/finance/exception.njk', {
      title: `异常流水 ${line.bankSerial}`, line, resolution, pending, order, orderStates: STATE_LABEL, reasons: EXCEPTION_REASONS, states: STATE_LABELS, yuan: yuanText,
    });
  });

  // 人工入账: proposed here, executed when a second 财务 approves it on /approvals.
  router.post('/exceptions/:id/credit', finance, async (ctx) => {
    const { line } = await service.get(lineIdOf(ctx.params.id));
    const form = await readConsoleForm(ctx);
    const orderNo = (form.orderNo ?? '').trim();
    if (!orderNo) throw new ValidationError('请填写要入账的订单号', 'manual credit without order');
    const reason = (form.reason ?? '').trim();
    const { id } = await approvals(deps).propose(ctx, manualCreditKind.kind, { statementLineId: line.id, bankSerial: line.bankSerial, orderNo, amountFen: line.amountFen ?? 0, reason }, reason);
    ctx.redirect(`/approvals/${id}`);
  });

  // 退回: the money goes back to the payer's account; the instructions are recorded for the person who pays it back.
  router.post('/exceptions/:id/refund', finance, async (ctx) => {
    const id = lineIdOf(ctx.params.id);
    const form = await readConsoleForm(ctx);
    const resolution = await service.instructRefund(id, {
      accountName: form.accountName ?? '', account: form.account ?? '', bank: form.bank ?? '', note: form.note ?? '', reason: form.reason ?? '',
    }, operatorOf(ctx).username);
    await audit.record(ctx, { action: 'exception.refund', subject: `statement-line:${id}`, before: { state: 'exception' }, after: resolution });
    ctx.redirect(`/exceptions/${id}`);
  });

  router.post('/exceptions/:id/refunded', finance, async (ctx) => {
    const id = lineIdOf(ctx.params.id);
    const form = await readConsoleForm(ctx);
    const resolution = await service.markRefunded(id, form.reference ?? '', operatorOf(ctx).username);
    await audit.record(ctx, { action: 'exception.refunded', subject: `statement-line:${id}`, before: { state: 'refund-pending' }, after: resolution });
    ctx.redirect(`/exceptions/${id}`);
  });
  return router;
}

/** 异常队列: transfer lines no order took — match by hand (four-eyes 人工入账) or return the money to the payer. */
export const exceptionsSection: ConsoleSection = {
  path: '/exceptions',
  title: '异常队列',
  roles: ['finance'],
  routes: exceptionRoutes,
  approvalKinds: [manualCreditKind],
};
