import Router from '@koa/router';
import { type Deps } from '../../deps';
import { NotFoundError } from '../../lib/errors';
import { type RenderPage } from '../../lib/views';
import { consoleAudit } from '../console/audit';
import { operatorOf, requireRole } from '../console/guard';
import { pagerOf, parsePage } from '../console/paging';
import { type ConsoleSection } from '../console/sections';
import { MAX_STATEMENT_BYTES, StatementImportService } from './service';
import { readStatementUpload } from './upload';

const RESULT_LABELS: Record<string, string> = { credited: '入账', exception: '异常', skipped: '跳过', rejected: '格式错误' };

function statementRoutes(deps: Deps, render: RenderPage): Router {
  const router = new Router();
  const finance = requireRole('finance');
  const imports = new StatementImportService(deps);

  router.get('/statements', finance, async (ctx) => {
    const page = parsePage(ctx.query);
    const { items, total } = await imports.history(page.page, page.pageSize);
    ctx.body = render('console/finance/statements.njk', { title: '对账单导入', items, pager: pagerOf(page, total, '/statements'), maxMb: MAX_STATEMENT_BYTES / 1048576 });
  });

  // The upload itself: read in memory, imported as `npm run statements:import` would, kept with its report.
  router.post('/statements', finance, async (ctx) => {
    const file = await readStatementUpload(ctx);
    const op = operatorOf(ctx);
    const result = await imports.importUpload(file, op);
    await consoleAudit(deps).record(ctx, { action: 'statement.import', subject: `statement-import:${result.id}`, after: result.totals, detail: { file: file.name, bytes: file.bytes.length } });
    ctx.redirect(`/statements/${result.id}`);
  });

  router.get('/statements/:id', finance, async (ctx) => {
    const id = Number(ctx.params.id);
    if (!Number.isSafeInteger(id)) throw new NotFoundError('没有这次导入', `statement import ${ctx.params.id}`);
    const { entry, report } = await imports.detail(id);
    const only = typeof ctx.query.only === 'string' && ctx.query.only in RESULT_LABELS ? ctx.query.only : '';
    const lines = only ? report.filter((r) => r.result === only) : report;
    const page = parsePage(ctx.query, 100);
    ctx.body = render('console/finance/statement-report.njk', {
      title: `导入报告 #${entry.id}`, entry, lines: lines.slice(page.offset, page.offset + page.pageSize), only, resultLabels: RESULT_LABELS,
      pager: pagerOf(page, lines.length, `/statements/${entry.id}`, { only }),
    });
  });
  return router;
}

/** 对账单导入: upload a bank statement (CSV/XLSX), read its per-line report, and the history of imports. */
export const statementsSection: ConsoleSection = {
  path: '/statements',
  title: '对账单导入',
  roles: ['finance'],
  routes: statementRoutes,
};
