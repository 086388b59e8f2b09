import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Router from '@koa/router';
import { CSS_TYPE, JS_TYPE } from '../../lib/http/static-assets';
import { projectRoot } from '../../lib/paths';

/**
 * The dashboard's scripts and the orders pages' stylesheet, served by the console itself at /static/console-dashboard/:
 * ECharts (the maintained charting library the issue asks for) straight from the installed package — no CDN, so the
 * console's CSP (`script-src 'self'`) needs no other origin and an intranet without Internet access draws the charts —
 * plus our chart set-up and styles from public/console-dashboard/. Read once; `?v=<hash>` URLs are cached long.
 */
const PREFIX = '/static/console-dashboard/';

function readAssets(): Map<string, { type: string; body: Buffer }> {
  const own = (name: string) => readFileSync(join(projectRoot(), 'public', 'console-dashboard', name));
  return new Map([
    ['echarts.min.js', { type: JS_TYPE, body: readFileSync(require.resolve('echarts/dist/echarts.min.js')) }],
    ['dashboard.js', { type: JS_TYPE, body: own('dashboard.js') }],
    ['console-extra.css', { type: CSS_TYPE, body: own('console-extra.css') }],
  ]);
}

let cached: { files: Map<string, { type: string; body: Buffer }>; version: string } | undefined;

/** The files and a hash of them all (the `v` of their URLs). */
export function dashboardAssets() {
  if (!cached) {
    const files = readAssets();
    const hash = createHash('sha256');
    for (const f of files.values()) hash.update(f.body);
    cached = { files, version: hash.digest('hex').slice(0, 10) };
  }
  return cached;
}

/** GET routes for the files (the console lets /static/ through without a login: they hold nothing private). */
export function dashboardAssetRoutes(router: Router): void {
  router.get(`${PREFIX}:name`, (ctx, next) => {
    const file = dashboardAssets().files.get(ctx.params.name ?? '');
    if (!file) return next();
    ctx.type = file.type;
    ctx.set('Cache-Control', ctx.query.v ? 'public, max-age=31536000, immutable' : 'public, max-age=300');
    ctx.body = file.body;
  });
}
