import Router from '@koa/router';
import { type Deps } from '../../deps';

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

const isLoopback = (ip: string) => ip === '127.0.0.1' || ip === '::1' || ip === '::ffff:127.0.0.1';

/** /healthz for load balancers and orchestrators; /metrics for Prometheus, never public. */
export function opsRoutes(deps: Deps): Router {
  const router = new Router();

  router.get('/healthz', async (ctx) => {
    const [database, cache] = await Promise.all([probe(() => deps.db.query('SELECT 1')), probe(() => deps.store.ping())]);
    const ok = database.ok && cache.ok;
    ctx.status = ok ? 200 : 503;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      status: ok ? 'ok' : 'unavailable',
      database: { kind: deps.config.database.kind, ...database },
      cache: { kind: deps.store.kind, ...cache },
      wechat: deps.config.wechat.mode,
    };
  });

  // With METRICS_TOKEN set a bearer token is required; without it (development only) loopback callers only.
  router.get('/metrics', async (ctx) => {
    const token = deps.config.metricsToken;
    const allowed = token ? ctx.get('authorization') === `Bearer ${token}` : isLoopback(ctx.request.socket.remoteAddress ?? '');
    if (!allowed) {
      ctx.status = 404;
      ctx.body = 'Not Found';
      return;
    }
    ctx.type = deps.metrics.registry.contentType;
    ctx.body = await deps.metrics.registry.metrics();
  });

  return router;
}
