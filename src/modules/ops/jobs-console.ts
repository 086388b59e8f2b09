import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { KoaAdapter } from '@bull-board/koa';
import Router from '@koa/router';
import type Koa from 'koa';
import { type Deps } from '../../deps';
import { ForbiddenError, NotFoundError } from '../../lib/errors';
import { isInspectable } from '../../lib/jobs/types';
import { RedisJobQueue } from '../../lib/jobs/redis';
import { currentCspNonce, pagePolicy } from '../../lib/http/security-headers';
import { type RenderPage } from '../../lib/views';
import { consoleAudit } from '../console/audit';
import { requireRole, requireStepUp } from '../console/guard';
import { type ConsoleSection } from '../console/sections';
import { BOARD_PAGE_POLICY, BOARD_PATH, boardHtmlForCsp, redactJobData } from './jobs-board-html';

/**
 * 任务队列 in the console (管理员, issue 12). On Redis the BullMQ queue is shown by bull-board, mounted READ-ONLY:
 * the queue adapter is in readOnlyMode (its API answers 405 to retry, clean, remove, promote, pause…), and in front
 * of it this router lets only GET through — those buttons would bypass four-eyes, the audit log and CSRF. On the
 * embedded default (no BullMQ) the page shows the in-process queue's counts. Either way, running a failed job once
 * more is this page's own audited action (step-up, CSRF), never the board's.
 */
const FAILED_SHOWN = 50;

function mountBoard(queue: RedisJobQueue): Koa.Middleware {
  const serverAdapter = new KoaAdapter();
  serverAdapter.setBasePath(BOARD_PATH);
  const adapter = new BullMQAdapter(queue.bullQueue, { readOnlyMode: true, allowRetries: false, description: '只读：需要重跑失败任务时，请在“任务队列”页操作（留审计记录）' });
  adapter.setFormatter('data', redactJobData);
  adapter.setFormatter('returnValue', redactJobData);
  createBullBoard({
    queues: [adapter],
    serverAdapter,
    options: { uiConfig: { boardTitle: '任务队列（只读）', locale: { lng: 'zh-CN' }, hideDocsLink: true, miscLinks: [{ text: '返回控制台', url: '/jobs' }] } },
  });
  const board = serverAdapter.registerPlugin() as Koa.Middleware;
  return async (ctx, next) => {
    await board(ctx, next);
    if (ctx.response.is('html') && typeof ctx.body === 'string') ctx.body = boardHtmlForCsp(ctx.body, currentCspNonce());
  };
}

function jobRoutes(deps: Deps, render: RenderPage): Router {
  const router = new Router();
  const admin = requireRole('admin');
  const audit = consoleAudit(deps);
  const queue = deps.jobs;
  const board = queue instanceof RedisJobQueue ? mountBoard(queue) : null;

  router.get('/jobs', admin, async (ctx) => {
    const inspectable = isInspectable(queue);
    ctx.body = render('console/jobs/index.njk', {
      kind: queue.kind, board: board ? `${BOARD_PATH}/` : null,
      counts: inspectable ? await queue.counts() : null,
      failed: inspectable ? await queue.failedJobs(FAILED_SHOWN) : [],
      notice: ctx.query.done ? String(ctx.query.done) : null,
    });
  });

  router.post('/jobs/failed/:jobId/retry', admin, requireStepUp(), async (ctx) => {
    const jobId = String(ctx.params.jobId);
    if (!isInspectable(queue) || !(await queue.retryFailed(jobId))) throw new NotFoundError('没有这个失败任务（可能已重跑或已过期）', `failed job ${jobId}`);
    await audit.record(ctx, { action: 'job.retry', subject: `job:${jobId}`, before: { state: 'failed' }, after: { state: 'waiting' } });
    ctx.redirect(`/jobs?done=${encodeURIComponent(`任务 ${jobId} 已重新排队`)}`);
  });

  // The board: GET only (its assets, its page, its read API); everything else is refused here, before bull-board.
  router.all([BOARD_PATH, `${BOARD_PATH}/{*rest}`], admin, pagePolicy(BOARD_PAGE_POLICY), async (ctx, next) => {
    if (!board) throw new NotFoundError('内置模式没有 BullMQ 队列看板', 'bull-board without a Redis queue');
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') throw new ForbiddenError('任务看板只读：重跑失败任务请在“任务队列”页操作', `bull-board ${ctx.method} ${ctx.path} refused (read-only)`);
    if (ctx.path === BOARD_PATH) return ctx.redirect(`${BOARD_PATH}/`);
    return board(ctx, next);
  });

  return router;
}

export const jobsSection: ConsoleSection = {
  path: '/jobs',
  title: '任务队列',
  roles: ['admin'],
  routes: jobRoutes,
};
