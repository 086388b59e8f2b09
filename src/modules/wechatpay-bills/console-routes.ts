import Router from '@koa/router';
import { type Deps } from '../../deps';
import { NotFoundError, ValidationError } from '../../lib/errors';
import { type RenderPage } from '../../lib/views';
import { consoleAudit } from '../console/audit';
import { readConsoleForm } from '../console/form';
import { operatorOf, requireRole } from '../console/guard';
import { type ConsoleSection } from '../console/sections';
import { yuanText } from '../refunds/console';
import { BillRunEntity, type FindingKind } from './entities';
import { beijingDay, WechatPayBillService } from './service';

export const FINDING_LABELS: Record<FindingKind, string> = {
  'missing-here': '微信支付已收款，本地未入账',
  'missing-there': '本地已收款，账单中没有',
  'amount-mismatch': '金额不一致',
  'refund-missing-here': '账单有退款，本地没有',
  'refund-missing-there': '本地有退款，账单中没有',
  'refund-amount-mismatch': '退款金额不一致',
};
const TODO: Record<FindingKind, string> = {
  'missing-here': '重新核对此日会再次查单：查单确认已支付的即按支付通知同一路径入账；仍无法入账的（订单已关闭等）请在商户平台退款后标记已处理',
  'missing-there': '先在商户平台「交易中心 → 交易订单」查询这笔交易，确认后再处理',
  'amount-mismatch': '对照商户平台核对订单金额',
  'refund-missing-here': '在商户平台「退款管理」核对这笔退款',
  'refund-missing-there': '在商户平台查询这笔退款是否受理',
  'refund-amount-mismatch': '对照商户平台核对退款金额',
};
const OUTCOME_LABELS: Record<string, string> = { credited: '已按查单结果入账', recorded: '已按查询结果补记', open: '待处理' };
const RUN_LABELS: Record<string, string> = { DONE: '已核对', EMPTY: '无交易', FAILED: '未完成' };

function dayOf(raw: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(raw) || Number.isNaN(Date.parse(`${raw}T00:00:00+08:00`))) throw new NotFoundError('日期格式应为 yyyy-MM-dd', `bad bill day ${raw.slice(0, 20)}`);
  return raw;
}

function billRoutes(deps: Deps, render: RenderPage): Router {
  const router = new Router();
  const finance = requireRole('finance');
  const bills = new WechatPayBillService(deps);
  const audit = consoleAudit(deps);
  const labels = { kinds: FINDING_LABELS, todo: TODO, outcomes: OUTCOME_LABELS, runStates: RUN_LABELS, yuan: yuanText };

  router.get('/bills', finance, async (ctx) => {
    const [runs, open] = await Promise.all([bills.recentRuns(31), bills.findings({ openOnly: true })]);
    const yesterday = beijingDay(deps.clock.nowMs() - 86_400_000);
    ctx.body = render('console/finance/bills.njk', { title: '微信支付账单', runs, open, yesterday, ...labels });
  });

  router.get('/bills/:day', finance, async (ctx) => {
    const day = dayOf(ctx.params.day);
    const [run, findings] = await Promise.all([deps.db.getRepository(BillRunEntity).findOne({ where: { billDate: day } }), bills.findings({ billDate: day })]);
    ctx.body = render('console/finance/bill-day.njk', { title: `微信支付账单 ${day}`, day, run, findings, ...labels });
  });

  // Re-runs a day's check now (the daily job does it after 10:00): safe to repeat, credits and refunds are idempotent.
  router.post('/bills/check', finance, async (ctx) => {
    const form = await readConsoleForm(ctx);
    const day = (form.day ?? '').trim();
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new ValidationError('请选择要核对的日期', `bad bill day ${day.slice(0, 20)}`);
    if (day >= beijingDay(deps.clock.nowMs())) throw new ValidationError('只能核对今天以前的账单：微信支付次日上午才生成前一天的账单', `bill ${day} is not a past day`);
    let outcome: Record<string, unknown>;
    try {
      const { run } = await bills.check(day);
      outcome = { state: run.state, rows: run.billRows, open: run.findings };
    } catch (err) {
      outcome = { state: 'FAILED', error: (err as Error).message.slice(0, 200) };
    }
    await audit.record(ctx, { action: 'bill.check', subject: `wechatpay-bill:${day}`, after: outcome });
    ctx.redirect(`/bills/${day}`);
  });

  router.post('/bills/findings/:id/resolve', finance, async (ctx) => {
    const id = Number(ctx.params.id);
    const form = await readConsoleForm(ctx);
    const note = (form.note ?? '').trim();
    if (!note) throw new ValidationError('请写明是如何处理的', 'bill finding resolve without note');
    const before = (await bills.findings({ openOnly: true })).find((f) => f.id === id);
    if (!before || !(await bills.resolve(id, operatorOf(ctx).username))) throw new NotFoundError('没有这条待处理的差异', `no open finding ${ctx.params.id}`);
    await audit.record(ctx, { action: 'bill.resolve', subject: `wechatpay-finding:${id}`, before: { kind: before.kind, outcome: before.outcome }, after: { resolved: true, note }, detail: { day: before.billDate, outTradeNo: before.outTradeNo } });
    ctx.redirect(`/bills/${before.billDate}`);
  });
  return router;
}


/** 微信支付账单: the daily trade-bill check per day, every kind of difference, re-run a day, mark one handled. */
export const billsSection: ConsoleSection = {
  path: '/bills',
  title: '微信支付账单',
  roles: ['finance'],
  routes: billRoutes,
};
