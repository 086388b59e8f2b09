import Router from '@koa/router';
import type Koa from 'koa';
import { type Deps } from '../../deps';
import { bearerMatches, isLoopback } from '../../lib/http/bearer';

async function probe(fn: () => Promise<unknown>, timeoutMs = 2000): Promise<{ ok: boolean; ms: number; error?: string }> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([fn(), new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs); })]);
    return { ok: true, ms: Math.round((performance.now() - started) * 10) / 10 };
  } catch (err) {
    return { ok: false, ms: Math.round(performance.now() - started), error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Operators only: with METRICS_TOKEN set, the bearer token (compared in constant time); without it (development
 * only: production requires the token) callers on this machine. The socket's peer, never X-Forwarded-For.
 */
function isOperator(ctx: Koa.Context, token: string | undefined): boolean {
  return token ? bearerMatches(ctx.get('authorization') || undefined, token) : isLoopback(ctx.request.socket.remoteAddress);
}

/** /healthz for load balancers and orchestrators; /metrics for Prometheus, never public. */
export function opsRoutes(deps: Deps): Router {
  const router = new Router();

  router.get('/healthz', async (ctx) => {
    const [database, cache] = await Promise.all([probe(() => deps.db.query('SELECT 1')), probe(() => deps.store.ping())]);
    const ok = database.ok && cache.ok;
    ctx.status = ok ? 200 : 503;
    ctx.set('Cache-Control', 'no-store');
    const status = ok ? 'ok' : 'unavailable';
    // The public (load balancers) learns up or down; what is behind it, how fast, and error texts (they name
    // internal hosts and ports) only operators.
    ctx.body = isOperator(ctx, deps.config.metricsToken)
      ? { status, database: { kind: deps.config.database.kind, ...database }, cache: { kind: deps.store.kind, ...cache }, wechat: deps.config.wechat.mode }
      : { status };
  });

  router.get('/metrics', async (ctx) => {
    if (!isOperator(ctx, deps.config.metricsToken)) {
      ctx.status = 404;
      ctx.body = 'Not Found';
      return;
    }
    ctx.type = deps.metrics.registry.contentType;
    ctx.body = await deps.metrics.registry.metrics();
  });

  return router;
}
