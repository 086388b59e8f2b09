import Router from '@koa/router';
import Koa from 'koa';
import { type Deps } from '../../deps';
import { errorMiddleware } from '../../lib/http/error-middleware';
import { requestLog } from '../../lib/http/request-log';
import { securityHeaders } from '../../lib/http/security-headers';
import { CSS_TYPE, JS_TYPE, staticAssets } from '../../lib/http/static-assets';
import { BRAND } from '../../config/brand';
import { approvalRoutes } from './approvals-routes';
import { authRoutes } from './auth-routes';
import { ukeyRoutes } from './ukey-routes';
import { consoleCsrf, consoleCsrfToken } from './form';
import { attachClock, consoleAuth, operatorOf } from './guard';
import { ipAllowList, trustedProxyOnly } from './network';
import { createConsoleViews, type NavItem, withPageScope } from './render';
import { type ConsoleSection, consoleSections } from './sections';
import { consoleSessionMiddleware } from './session';

/** The core's own nav entry, shown to every operator. */
const APPROVALS_NAV = { path: '/approvals', title: '审批' };

/**
 * The operator console (issue 12): a Koa app of its own, served on ADMIN_PORT by main.ts and never mounted on the
 * public app. Its own session cookie (`cam.admin`), forwarded headers only from ADMIN_TRUSTED_PROXY, the optional IP
 * allow-list before anything else, login with a second factor, CSRF on every state-changing request, and the
 * sections of consoleSections(), each checking roles on its own routes.
 */
export function createConsoleApp(deps: Deps, opts: { sections?: ConsoleSection[] } = {}): Koa {
  const { config, logger } = deps;
  const c = config.console;
  const app = new Koa({ proxy: !!c.trustedProxy, maxIpsCount: 1, keys: [config.sessionSecret] });
  app.silent = true;
  attachClock(app, deps.clock);
  const render = createConsoleViews({ watch: config.env === 'development', globals: { brand: BRAND, sandbox: config.sandbox } });
  const sections = opts.sections ?? consoleSections();

  app.use(trustedProxyOnly(c.trustedProxy));
  app.use(requestLog(logger, deps.metrics));
  app.use(securityHeaders({ hsts: c.secureCookies, formTargets: [] }));
  app.use(errorMiddleware(logger, (template, data) => render(template === 'error.njk' ? 'console/error.njk' : template, data)));
  app.use(ipAllowList(c.ipAllowlist));
  app.use(async (ctx, next) => {
    await next();
    // Pages hold personal data and one-time secrets (TOTP enrolment): never stored by the browser or a proxy.
    if (!ctx.path.startsWith('/static/')) ctx.set('Cache-Control', 'no-store');
  });
  const assets = staticAssets({ folder: 'console', files: { 'console.css': CSS_TYPE, 'ukey.js': JS_TYPE }, reread: config.env === 'development' });
  app.use(assets.middleware);
  // The one key-agent client of /capc/ and the renewal page, for U-KEY login and enrolment.
  const shared = staticAssets({ folder: 'shared', files: { 'key-agent-client.js': JS_TYPE }, reread: config.env === 'development' });
  app.use(shared.middleware);

  app.use(consoleSessionMiddleware(app, deps.store, { secure: c.secureCookies, absoluteMs: c.absoluteMs }));
  app.use(consoleAuth(deps));
  app.use(consoleCsrf());
  app.use((ctx, next) => {
    const op = ctx.state.operator;
    const visible = op ? [...sections.filter((s) => s.roles.some((r) => op.roles.includes(r))), APPROVALS_NAV] : [];
    const nav: NavItem[] = visible.map((s) => ({ path: s.path, title: s.title, active: s.path === '/' ? ctx.path === '/' : ctx.path === s.path || ctx.path.startsWith(`${s.path}/`) }));
    return withPageScope({ operator: op, csrfToken: consoleCsrfToken(ctx, deps.random), nav, path: ctx.path, assetVersion: `${assets.version}${shared.version}` }, next);
  });

  const routers = [authRoutes(deps, render), ukeyRoutes(deps, render), ...sections.map((s) => s.routes(deps, render)), approvalRoutes(deps, render)];
  for (const router of routers) app.use(router.routes()).use(router.allowedMethods());

  // The home page until a section (the dashboard) claims '/': what this operator can open.
  const home = new Router();
  home.get('/', (ctx) => {
    const op = operatorOf(ctx);
    ctx.body = render('console/home.njk', { title: '首页', sections: [...sections.filter((s) => s.roles.some((r) => op.roles.includes(r))), APPROVALS_NAV] });
  });
  app.use(home.routes()).use(home.allowedMethods());
  return app;
}
