import Router from '@koa/router';
import { type Deps } from '../../deps';
import { type RenderPage } from '../../lib/views';
import { RenewalAuditLog } from '../renewals/audit';
import { RenewalAuditEntity } from '../renewals/entities';
import { consoleAudit } from './audit';
import { readConsoleForm } from './form';
import { requireRole } from './guard';
import { OperatorService } from './operators';
import { pagerOf, parsePage } from './paging';
import { type ConsoleSection } from './sections';

const STEP = /^[a-z0-9._-]{1,32}$/;
/** LIKE with `!` as the escape character: a backslash means different things to MySQL and SQLite string literals. */
const likeEscape = (s: string) => s.replace(/[!%_]/g, (c) => `!${c}`);

/**
 * /audit (管理员): the hash-chained log every operator action and renewal step is appended to, newest first,
 * filtered by step (e.g. console.login) and operator; 校验 recomputes the whole chain and checks the exported signed
 * heads, and names the first entry that breaks it.
 */
function auditRoutes(deps: Deps, render: RenderPage): Router {
  const router = new Router();
  const admin = requireRole('admin');
  const repo = deps.db.getRepository(RenewalAuditEntity);

  router.get('/audit', admin, async (ctx) => {
    const page = parsePage(ctx.query, 50);
    const step = typeof ctx.query.step === 'string' && STEP.test(ctx.query.step) ? ctx.query.step : '';
    const username = typeof ctx.query.operator === 'string' ? ctx.query.operator.trim().toLowerCase().slice(0, 64) : '';
    const qb = repo.createQueryBuilder('a').orderBy('a.seq', 'DESC').skip(page.offset).take(page.pageSize);
    if (step) qb.andWhere('a.step LIKE :step ESCAPE \'!\'', { step: `${likeEscape(step)}%` });
    if (username) {
      const op = await new OperatorService(deps).byUsername(username);
      // The detail is canonical JSON (sorted keys): the acting operator is exactly this text.
      qb.andWhere('a.detail LIKE :who ESCAPE \'!\'', { who: `%${likeEscape(`"operator":{"id":${op?.id ?? -1},"username":${JSON.stringify(username)}}`)}%` });
    }
    const [rows, total] = await qb.getManyAndCount();
    ctx.body = render('console/audit.njk', {
      title: '审计日志', step, username, pager: pagerOf(page, total, '/audit', ctx.query as Record<string, unknown>),
      rows: rows.map((r) => ({ ...r, detailShort: r.detail.length > 400 ? `${r.detail.slice(0, 400)}…` : r.detail })),
    });
  });

  router.post('/audit/verify', admin, async (ctx) => {
    await readConsoleForm(ctx);
    const { auditExportDir, auditKeySeed } = deps.config.renewals;
    const check = await new RenewalAuditLog(deps).verify(auditExportDir, auditKeySeed);
    await consoleAudit(deps).record(ctx, { action: 'audit.verify', subject: 'audit-chain', after: check.ok ? { ok: true, count: check.count } : { ok: false, seq: check.seq } });
    ctx.body = render('console/audit-verify.njk', { title: '审计日志校验', check });
  });
  return router;
}

export const auditSection: ConsoleSection = { path: '/audit', title: '审计日志', roles: ['admin'], routes: auditRoutes };
