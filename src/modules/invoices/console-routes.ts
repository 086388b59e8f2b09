import Router from '@koa/router';
import type Koa from 'koa';
import { type Deps } from '../../deps';
import { sendCsv } from '../../lib/http/csv';
import { type RenderPage } from '../../lib/views';
import { type ApprovalKind, approvals } from '../console/approvals';
import { consoleAudit } from '../console/audit';
import { readConsoleForm } from '../console/form';
import { operatorOf, requireRole, requireStepUp } from '../console/guard';
import { pagerOf, parsePage } from '../console/paging';
import { type ConsoleSection } from '../console/sections';
import { fenToYuanString } from './amounts';
import { describeRedLetter, InvoiceConsole, RED_REASONS, type RedLetterPayload, statusLabelOf } from './console-service';
import { InvoiceIssuance } from './issuance';
import { InvoiceLinks } from './link-access';
import { invoiceHealth, resendInvoiceMail } from './operator';
import { RedLetters } from './red-letter';
import { type InvoiceBuyer } from './schemas';
import { INVOICE_STATUS_LABELS } from './types';

/**
 * 发票 in the console (客服): what `npm run invoices:*` does, as pages. The status panel answers "why is nothing
 * issuing?" (the 开票员's QR login, 实人认证, 授信额度, requests stuck or failed); a request's page carries its actions.
 * 红冲 is four-eyes (kind 'red-letter'); the others are single-operator and audited.
 */
const EXPORT_LIMIT = 5000;
const by = (ctx: Koa.Context) => `operator:${operatorOf(ctx).username}`;

function corrections(form: Record<string, string>): Partial<InvoiceBuyer> {
  const out: Partial<InvoiceBuyer> = {};
  if (form.title?.trim()) out.title = form.title.trim();
  if (form.taxId?.trim()) out.taxId = form.taxId.trim();
  if (form.email?.trim()) out.email = form.email.trim();
  return out;
}

export const redLetterKind: ApprovalKind<RedLetterPayload> = {
  kind: 'red-letter',
  role: 'support',
  title: '红字发票',
  describe: describeRedLetter,
  validate: (deps, p) => new InvoiceConsole(deps).validateRedLetter(p),
  execute: (deps, p, c) => new InvoiceConsole(deps).executeRedLetter(p, `operator:#${c.approverId}`),
};

function invoiceRoutes(deps: Deps, render: RenderPage): Router {
  const router = new Router();
  const support = requireRole('support');
  const audit = consoleAudit(deps);
  const service = new InvoiceConsole(deps);
  const searchOf = (q: Koa.Context['query']) => ({ q: String(q.q ?? ''), title: String(q.title ?? ''), status: String(q.status ?? '') });

  router.get('/invoices', support, async (ctx) => {
    const paging = parsePage(ctx.query);
    const search = searchOf(ctx.query);
    const [health, found] = await Promise.all([invoiceHealth(deps), service.search(search, paging.page, paging.pageSize)]);
    ctx.body = render('console/invoices/list.njk', {
      health, search, statuses: INVOICE_STATUS_LABELS, issuerMode: deps.einvoice.mode,
      rows: found.rows.map((r) => ({ ...r, statusLabel: statusLabelOf(r), total: fenToYuanString(r.totalFen) })),
      pages: pagerOf(paging, found.total, '/invoices', search), yuan: fenToYuanString,
    });
  });

  // The titles of individual buyers and the openids are personal data: the export is behind step-up and audited.
  router.get('/invoices/export.csv', support, requireStepUp(), async (ctx) => {
    const search = searchOf(ctx.query);
    const { rows, total } = await service.search(search, 1, EXPORT_LIMIT);
    await audit.record(ctx, { action: 'invoices.export', subject: 'invoices', detail: { search, rows: rows.length, total } });
    sendCsv(ctx, 'invoices.csv', ['受理单号', '方向', '抬头', '金额（元）', '状态', '发票号码', '开票时间', '申请时间', 'openid', '失败原因'],
      rows.map((r) => [r.acceptanceNo, r.direction === 'red' ? '红字' : '蓝字', r.title, fenToYuanString(r.totalFen), statusLabelOf(r), r.invoiceNumber ?? '',
        r.issuedAt?.toISOString() ?? '', r.createdAt.toISOString(), r.openid, r.failureReason ?? '']));
  });

  router.get('/invoices/:no', support, async (ctx) => {
    const record = await service.record(ctx.params.no!);
    ctx.body = render('console/invoices/detail.njk', { r: record, redReasons: RED_REASONS, yuan: fenToYuanString, notice: ctx.query.done ? String(ctx.query.done) : null });
  });

  const action = (name: string, run: (ctx: Koa.Context, no: string, form: Record<string, string>) => Promise<{ message: string; after?: unknown }>) =>
    router.post(`/invoices/:no/${name}`, support, async (ctx) => {
      const no = ctx.params.no!;
      const form = await readConsoleForm(ctx);
      const before = (await service.record(no)).request;
      const { message, after } = await run(ctx, no, form);
      await audit.record(ctx, { action: `invoice.${name}`, subject: `invoice:${no}`, before: { status: before.status }, after, detail: form.note ? { note: form.note.slice(0, 200) } : undefined });
      ctx.redirect(`/invoices/${encodeURIComponent(no)}?done=${encodeURIComponent(message)}`);
    });

  action('retry', async (ctx, no, form) => {
    const key = await new InvoiceIssuance(deps).retry(no, by(ctx), corrections(form));
    return { message: `已重新提交开票（尝试 ${key}）`, after: { attemptKey: key, corrected: Object.keys(corrections(form)) } };
  });
  action('withdraw', async (ctx, no) => {
    await new InvoiceIssuance(deps).withdraw(no, by(ctx));
    return { message: '已撤回，订单可重新开票或退款', after: { withdrawn: true } };
  });
  action('resend', async (ctx, no, form) => {
    const to = await resendInvoiceMail(deps, no, by(ctx), form.to?.trim() || undefined);
    const masked = to.replace(/^(.).*(@.*)$/, '$1***$2');
    return { message: `邮件已排队发送至 ${masked}`, after: { to: masked } };
  });
  action('revoke-link', async (ctx, no, form) => {
    const result = await new InvoiceLinks(deps).revoke(no, by(ctx), form.reissue === '1');
    return { message: `已作废 ${result.revoked} 个发票链接${result.reissued ? '，并生成了新链接' : ''}`, after: result };
  });
  action('reissue', async (ctx, no, form) => {
    const fixes = corrections(form);
    const replacement = await new RedLetters(deps).reissue(no, by(ctx), Object.keys(fixes).length ? fixes : null);
    return { message: `已重开，新受理单号 ${replacement}`, after: { replacement } };
  });

  router.post('/invoices/:no/red-letter', support, async (ctx) => {
    const form = await readConsoleForm(ctx);
    const payload: RedLetterPayload = { acceptanceNo: ctx.params.no!, reason: form.reason as RedLetterPayload['reason'] };
    const { id } = await approvals(deps).propose(ctx, 'red-letter', payload, form.why ?? '');
    ctx.redirect(`/approvals/${id}`);
  });

  return router;
}

export const invoicesSection: ConsoleSection = {
  path: '/invoices',
  title: '发票',
  roles: ['support'],
  routes: invoiceRoutes,
  approvalKinds: [redLetterKind],
};
