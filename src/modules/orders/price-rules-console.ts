import Router from '@koa/router';
import type Koa from 'koa';
import { type Deps } from '../../deps';
import { NotFoundError } from '../../lib/errors';
import { type RenderPage } from '../../lib/views';
import { type ApprovalKind, approvals } from '../console/approvals';
import { readConsoleForm } from '../console/form';
import { requireRole } from '../console/guard';
import { type ConsoleSection } from '../console/sections';
import { fenToYuanString, taxRatePercent } from '../invoices/amounts';
import { describePriceRule, parseLocalTime, parseRuleForm, PriceRuleAdmin, type PriceRulePayload } from './price-rule-admin';

/**
 * 价格规则 in the console (管理员): the rules, and proposals to create (now or from a date), edit (only a rule no order
 * used) or retire one. Every change is four-eyes (kind 'price-rule'); the checks live in price-rule-admin.ts and run at
 * proposal and again at approval, so the refusal of an edit to a used rule does not depend on this page.
 */
export const priceRuleKind: ApprovalKind<PriceRulePayload> = {
  kind: 'price-rule',
  role: 'admin',
  title: '价格规则',
  describe: describePriceRule,
  validate: (deps, p) => new PriceRuleAdmin(deps).validate(p),
  execute: (deps, p) => new PriceRuleAdmin(deps).execute(p),
};

const STATE_LABELS = { scheduled: '待生效', 'in-force': '生效中', retired: '已停用' } as const;

/** Asia/Shanghai "YYYY-MM-DDTHH:mm" for a datetime-local input. */
const localInput = (d: Date | null) => (d ? new Date(d.getTime() + 8 * 3_600_000).toISOString().slice(0, 16) : '');

function priceRuleRoutes(deps: Deps, render: RenderPage): Router {
  const router = new Router();
  const admin = requireRole('admin');
  const rules = new PriceRuleAdmin(deps);
  const view = (r: Awaited<ReturnType<PriceRuleAdmin['list']>>[number]) => ({
    ...r, price: fenToYuanString(r.unitPriceFen), stateLabel: STATE_LABELS[r.state], taxRate: taxRatePercent(r.taxRateBp ?? 600),
    fromInput: localInput(r.effectiveFrom), toInput: localInput(r.effectiveTo),
  });
  const propose = async (ctx: Koa.Context, payload: PriceRulePayload, why: string | undefined) => {
    const { id } = await approvals(deps).propose(ctx, 'price-rule', payload, why ?? '');
    ctx.redirect(`/approvals/${id}`);
  };
  const ruleId = (ctx: Koa.Context) => {
    const id = Number(ctx.params.id);
    if (!Number.isSafeInteger(id) || id <= 0) throw new NotFoundError('没有这条价格规则', `price rule ${ctx.params.id}`);
    return id;
  };

  router.get('/price-rules', admin, async (ctx) => {
    ctx.body = render('console/price-rules/list.njk', { rules: (await rules.list()).map(view), nowInput: localInput(new Date(deps.clock.nowMs())) });
  });

  router.post('/price-rules', admin, async (ctx) => {
    const form = await readConsoleForm(ctx);
    await propose(ctx, { action: 'create', ...parseRuleForm(form) }, form.why);
  });

  router.get('/price-rules/:id', admin, async (ctx) => {
    const rule = view(await rules.byId(ruleId(ctx)));
    ctx.body = render('console/price-rules/detail.njk', { r: rule, nowInput: localInput(new Date(deps.clock.nowMs())) });
  });

  router.post('/price-rules/:id/edit', admin, async (ctx) => {
    const form = await readConsoleForm(ctx);
    await propose(ctx, { action: 'edit', ruleId: ruleId(ctx), ...parseRuleForm(form) }, form.why);
  });

  router.post('/price-rules/:id/retire', admin, async (ctx) => {
    const form = await readConsoleForm(ctx);
    await propose(ctx, { action: 'retire', ruleId: ruleId(ctx), effectiveTo: parseLocalTime(form.effectiveTo, '停用时间') }, form.why);
  });

  return router;
}

export const priceRulesSection: ConsoleSection = {
  path: '/price-rules',
  title: '价格规则',
  roles: ['admin'],
  routes: priceRuleRoutes,
  approvalKinds: [priceRuleKind],
};
