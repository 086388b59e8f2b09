import Router from '@koa/router';
import type Koa from 'koa';
import QRCode from 'qrcode';
import { randomToken } from '../../lib/clock';
import { type Deps } from '../../deps';
import { ConflictError, NotFoundError, ValidationError } from '../../lib/errors';
import { type RenderPage } from '../../lib/views';
import { type ApprovalKind, approvals } from './approvals';
import { readConsoleForm } from './form';
import { consoleAudit } from './audit';
import { type Operator } from './entities';
import { operatorOf, requireRole, requireStepUp } from './guard';
import { OperatorUkeys } from './ukey';
import { OperatorService } from './operators';
import { isOperatorRole, type OperatorRole, OPERATOR_ROLES, parseRoles, ROLE_LABELS } from './roles';
import { type ConsoleSection } from './sections';

interface RoleGrantPayload { operatorId: number; username: string; roles: OperatorRole[] }

const rolesText = (roles: readonly OperatorRole[]) => (roles.length ? roles.map((r) => ROLE_LABELS[r]).join('、') : '无');

/** 角色授权: the roles an operator holds change only through four-eyes (another 管理员 approves). */
export const roleGrantKind: ApprovalKind<RoleGrantPayload> = {
  kind: 'role-grant',
  role: 'admin',
  title: '角色授权',
  describe: (p) => `将 ${p.username} 的角色设为：${rolesText(p.roles)}`,
  async validate(deps, p) {
    if (!Number.isInteger(p.operatorId) || !Array.isArray(p.roles) || !p.roles.every(isOperatorRole)) throw new ValidationError('角色授权的内容不正确', 'bad role-grant payload');
    const op = await new OperatorService(deps).byId(p.operatorId);
    if (!op) throw new NotFoundError('操作员不存在', `operator ${p.operatorId} not found`);
  },
  // Idempotent: it sets the roles to the proposed set (running it twice sets the same set).
  async execute(deps, p) {
    const operators = new OperatorService(deps);
    const op = await operators.byId(p.operatorId);
    if (!op) throw new NotFoundError('操作员不存在', `operator ${p.operatorId} not found`);
    const before = parseRoles(op.roles);
    // The last enabled 管理员 cannot lose the role: nobody could grant it back.
    if (before.includes('admin') && !p.roles.includes('admin') && !op.disabled && (await operators.countActiveWithRole('admin')) <= 1) {
      throw new ConflictError('这是唯一可用的管理员，不能取消其管理员角色', 'role-grant would remove the last admin');
    }
    await operators.setRoles(op.id, p.roles);
    return { operator: op.username, before: rolesText(before), after: rolesText(p.roles) };
  },
};

function operatorRoutes(deps: Deps, render: RenderPage): Router {
  const router = new Router();
  const operators = new OperatorService(deps);
  const admin = requireRole('admin');
  const audit = consoleAudit(deps);

  router.get('/operators', admin, async (ctx) => {
    const rows = (await operators.list()).map((op) => ({ ...op, roleList: parseRoles(op.roles), hasTotp: !!op.totpSecret, hasUkey: !!op.ukeyFingerprint }));
    ctx.body = render('console/operators/list.njk', { title: '操作员与角色', rows, roles: OPERATOR_ROLES });
  });

  // Proposes a role change; it applies once another 管理员 approves it on /approvals.
  router.post('/operators/:id/roles', admin, async (ctx) => {
    const id = Number(ctx.params.id);
    const form = await readConsoleForm(ctx);
    const op = await operators.byId(id);
    if (!op) throw new NotFoundError('操作员不存在', `operator ${id} not found`);
    const roles = OPERATOR_ROLES.filter((r) => form[`role_${r}`] === 'on');
    const { id: proposalId } = await approvals(deps).propose(ctx, 'role-grant', { operatorId: op.id, username: op.username, roles }, form.reason ?? '');
    ctx.redirect(`/approvals/${proposalId}`);
  });
  // A new operator starts without roles: the roles asked for go to four-eyes like any grant. The password and the
  // TOTP enrolment QR are shown on this one answer (no-store), never again.
  router.post('/operators', admin, requireStepUp(), async (ctx) => {
    const form = await readConsoleForm(ctx);
    const roles = OPERATOR_ROLES.filter((r) => form[`role_${r}`] === 'on');
    const password = randomToken(deps.random, 16);
    const { operator, totpSecret } = await operators.create({ username: form.username ?? '', displayName: form.displayName ?? '', password, roles: [] });
    await audit.record(ctx, { action: 'operator.create', subject: `operator:${operator.id}`, after: { username: operator.username, displayName: operator.displayName } });
    const proposal = roles.length ? await approvals(deps).propose(ctx, 'role-grant', { operatorId: operator.id, username: operator.username, roles }, form.reason || `新建操作员 ${operator.username}`) : null;
    await showSecrets(ctx, { operator, password, totpSecret, proposalId: proposal?.id ?? null });
  });

  router.post('/operators/:id/reset-totp', admin, requireStepUp(), async (ctx) => {
    await readConsoleForm(ctx);
    const op = await mustFind(Number(ctx.params.id));
    const totpSecret = await operators.resetTotp(op.id);
    await audit.record(ctx, { action: 'operator.reset-totp', subject: `operator:${op.id}` });
    await showSecrets(ctx, { operator: op, password: null, totpSecret, proposalId: null });
  });

  router.post('/operators/:id/clear-ukey', admin, requireStepUp(), async (ctx) => {
    await readConsoleForm(ctx);
    const op = await mustFind(Number(ctx.params.id));
    await new OperatorUkeys(deps).clear(op.id);
    await audit.record(ctx, { action: 'operator.clear-ukey', subject: `operator:${op.id}`, before: { fingerprint: op.ukeyFingerprint } });
    ctx.redirect('/operators');
  });

  router.post('/operators/:id/disable', admin, requireStepUp(), async (ctx) => {
    await readConsoleForm(ctx);
    const op = await mustFind(Number(ctx.params.id));
    if (op.id === operatorOf(ctx).id) throw new ConflictError('不能停用自己的账号', 'operator tried to disable itself');
    if (parseRoles(op.roles).includes('admin') && !op.disabled && (await operators.countActiveWithRole('admin')) <= 1) throw new ConflictError('这是唯一可用的管理员，不能停用', 'would disable the last admin');
    await operators.setDisabled(op.id, !op.disabled);
    await audit.record(ctx, { action: op.disabled ? 'operator.enable' : 'operator.disable', subject: `operator:${op.id}`, before: { disabled: op.disabled }, after: { disabled: !op.disabled } });
    ctx.redirect('/operators');
  });

  async function mustFind(id: number) {
    const op = Number.isInteger(id) ? await operators.byId(id) : null;
    if (!op) throw new NotFoundError('操作员不存在', `operator ${id} not found`);
    return op;
  }

  async function showSecrets(ctx: Koa.Context, data: { operator: Operator; password: string | null; totpSecret: string; proposalId: number | null }) {
    const uri = operators.totpUri(data.operator.username, data.totpSecret);
    ctx.body = render('console/operators/secrets.njk', {
      title: '操作员登录信息', ...data, uri, qr: await QRCode.toDataURL(uri, { errorCorrectionLevel: 'M', margin: 1, width: 220 }),
    });
  }
  return router;
}

export const operatorsSection: ConsoleSection = {
  path: '/operators',
  title: '操作员',
  roles: ['admin'],
  routes: operatorRoutes,
  approvalKinds: [roleGrantKind],
};
