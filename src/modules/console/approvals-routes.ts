import Router from '@koa/router';
import { type Deps } from '../../deps';
import { ValidationError } from '../../lib/errors';
import { type RenderPage } from '../../lib/views';
import { approvals, STATUS_LABELS } from './approvals';
import { PROPOSAL_STATES, type ProposalStatus } from './entities';
import { readConsoleForm } from './form';
import { operatorOf, requireRole, requireStepUp } from './guard';
import { OperatorService } from './operators';
import { pagerOf, parsePage } from './paging';
import { OPERATOR_ROLES } from './roles';

const idOf = (value: string) => {
  const id = Number(value);
  if (!Number.isInteger(id) || id < 1) throw new ValidationError('申请编号不正确', `bad proposal id ${value}`);
  return id;
};

/**
 * /approvals: the four-eyes queue. Everyone with a role sees the kinds of their roles; approving needs a fresh
 * re-authentication (requireStepUp) and the kind's role, and never the proposer (approvals.ts decides).
 */
export function approvalRoutes(deps: Deps, render: RenderPage): Router {
  const router = new Router();
  const anyRole = requireRole(...OPERATOR_ROLES);
  const operators = new OperatorService(deps);

  router.get('/approvals', anyRole, async (ctx) => {
    const me = operatorOf(ctx);
    const status = typeof ctx.query.status === 'string' && (PROPOSAL_STATES as readonly string[]).includes(ctx.query.status) ? ctx.query.status as ProposalStatus : undefined;
    const kind = typeof ctx.query.kind === 'string' && ctx.query.kind ? ctx.query.kind : undefined;
    const page = parsePage(ctx.query);
    const service = approvals(deps);
    const { rows, total } = await service.list({ status, kind, roles: me.roles, offset: page.offset, pageSize: page.pageSize });
    const names = await operators.namesOf(rows.flatMap((r) => [r.proposerId, ...(r.approverId ? [r.approverId] : [])]));
    ctx.body = render('console/approvals/list.njk', {
      title: '审批', rows, names, status, kind, statuses: STATUS_LABELS,
      kinds: service.kinds().filter((k) => me.roles.includes(k.role)), pager: pagerOf(page, total, '/approvals', ctx.query as Record<string, unknown>),
    });
  });

  router.get('/approvals/:id', anyRole, async (ctx) => {
    const me = operatorOf(ctx);
    const service = approvals(deps);
    const p = await service.get(idOf(ctx.params.id));
    const k = service.kindOf(p.kind);
    const names = await operators.namesOf([p.proposerId, ...(p.approverId ? [p.approverId] : [])]);
    const mayDecide = me.roles.includes(k.role);
    ctx.body = render('console/approvals/detail.njk', {
      title: `审批 #${p.id}`, p, names, role: k.role, mine: p.proposerId === me.id,
      canApprove: mayDecide && p.proposerId !== me.id && (p.status === 'PROPOSED' || p.status === 'FAILED'),
      canReject: mayDecide && p.status === 'PROPOSED',
      payloadJson: JSON.stringify(p.payloadObject, null, 2), resultJson: p.resultObject ? JSON.stringify(p.resultObject, null, 2) : null,
    });
  });

  router.post('/approvals/:id/approve', anyRole, requireStepUp(), async (ctx) => {
    const id = idOf(ctx.params.id);
    await readConsoleForm(ctx);
    await approvals(deps).approve(ctx, id);
    ctx.redirect(`/approvals/${id}`);
  });

  router.post('/approvals/:id/reject', anyRole, async (ctx) => {
    const id = idOf(ctx.params.id);
    const form = await readConsoleForm(ctx);
    await approvals(deps).reject(ctx, id, form.reason ?? '');
    ctx.redirect(`/approvals/${id}`);
  });

  return router;
}
