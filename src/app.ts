import { readFileSync } from 'node:fs';
import Koa from 'koa';
import mount from 'koa-mount';
import { type Deps } from './deps';
import { registerJobHandlers } from './job-handlers';
import { errorMiddleware } from './lib/http/error-middleware';
import { requestLog } from './lib/http/request-log';
import { securityHeaders } from './lib/http/security-headers';
import { sessionMiddleware } from './lib/http/session';
import { createViews } from './lib/views';
import { bindingRoutes } from './modules/binding/routes';
import { capcAssets, capcRoutes, keyAgentClientAssets } from './modules/capc/routes';
import { renewalPageAssets, renewalPageRoutes } from './modules/renewal-page/routes';
import { certificateRoutes } from './modules/certificates/routes';
import { crlRoutes } from './modules/crl/routes';
import { devWechatRoutes } from './modules/dev-wechat/routes';
import { h5Routes } from './modules/h5/routes';
import { handlerRoutes } from './modules/handlers/routes';
import { handlerDocumentRoutes } from './modules/handler-documents/routes';
import { renewalOrderRoutes } from './modules/renewal-orders/routes';
import { invoiceRoutes } from './modules/invoices/routes';
import { renewalApiRoutes } from './modules/renewals/routes';
import { oauthRoutes } from './modules/oauth/routes';
import { opsRoutes } from './modules/ops/routes';
import { paymentNotifyRoutes, paymentPageRoutes } from './modules/payments/routes';
import { webhookRoutes } from './modules/wechat-webhook/routes';
import { invoiceLinkRoutes } from './modules/invoices/link-routes';
import { devMailRoutes } from './modules/dev-mail/routes';
import { devSmsRoutes } from './modules/dev-sms/routes';
import { createSandboxWechatApiApp } from './providers/wechat-api/sandbox';
import { createSandboxWechatPayApp, SANDBOX_WECHATPAY_PATH } from './providers/wechatpay/sandbox';
import { createSandboxFaceIdApp } from './providers/liveness/sandbox';
import { createSandboxOAuthRoutes } from './modules/oauth/sandbox-authorize';
import { FACEID_PAGE_ORIGINS } from './providers/liveness/config';
import { BRAND } from './config/brand';

const WEUI_CSS = require.resolve('weui/dist/style/weui.min.css');

/**
 * Builds the Koa app from its dependencies. No I/O happens here or at import time: main.ts (or a test)
 * opens the connections and passes them in. Sandbox pieces are mounted only in sandbox mode.
 */
export function createApp(deps: Deps): Koa {
  const { config, logger } = deps;
  const app = new Koa({ proxy: config.trustProxy, maxIpsCount: config.trustProxyHops, keys: [config.sessionSecret] });
  const render = createViews({ watch: config.env === 'development', globals: { brand: BRAND } });
  app.context.render = render;
  app.silent = true; // errors are logged by errorMiddleware, with the request id

  app.use(requestLog(logger, deps.metrics));
  // Forms may end at WeChat's OAuth page (a session that ran out) or the liveness provider's (the handler form).
  const formTargets = [new URL(config.wechat.oauthAuthorizeUrl).origin, ...(config.liveness.mode === 'real' ? FACEID_PAGE_ORIGINS : [])];
  app.use(securityHeaders({ hsts: config.isProduction, formTargets: formTargets.filter((o) => o !== new URL(config.publicBaseUrl).origin), machinePaths: ['/wechat', '/pay/wechat/notify'] }));
  app.use(errorMiddleware(logger, render));

  // Before the session: these never need one, and the webhook reads the raw body itself.
  const crl = crlRoutes(deps); // sandbox (built-in CA) only
  for (const router of [opsRoutes(deps), webhookRoutes(deps), paymentNotifyRoutes(deps), ...(crl ? [crl] : [])]) app.use(router.routes()).use(router.allowedMethods());
  // The invoice link works in any browser without a session (issue 11).
  const invoiceLinks = invoiceLinkRoutes(deps, render);
  app.use(invoiceLinks.routes()).use(invoiceLinks.allowedMethods());
  registerJobHandlers(deps);

  const weuiCss = readFileSync(WEUI_CSS);
  app.use(async (ctx, next) => {
    if (ctx.path !== '/static/weui.min.css') return next();
    ctx.type = 'text/css';
    ctx.set('Cache-Control', 'public, max-age=86400');
    ctx.body = weuiCss;
  });
  const capcStatic = capcAssets(deps);
  app.use(capcStatic.middleware);
  const renewalPageStatic = renewalPageAssets(deps);
  app.use(renewalPageStatic.middleware);
  const keyAgentClientStatic = keyAgentClientAssets(deps);
  app.use(keyAgentClientStatic.middleware);

  if (config.sandbox && deps.sandboxWechat) {
    app.use(mount('/sandbox/wechat-api', createSandboxWechatApiApp(deps.sandboxWechat, logger)));
  }
  if (config.wechatpay.mode === 'sandbox' && deps.sandboxWechatPay && !config.isProduction) {
    app.use(mount(SANDBOX_WECHATPAY_PATH, createSandboxWechatPayApp(deps.sandboxWechatPay, { logger, render, publicBaseUrl: config.publicBaseUrl })));
  }
  if (config.liveness.mode === 'sandbox' && deps.sandboxFaceId && !config.isProduction) {
    app.use(mount('/sandbox/faceid', createSandboxFaceIdApp(deps.sandboxFaceId, { logger, clock: deps.clock, render })));
  }

  app.use(sessionMiddleware(app, deps.store, config.secureCookies));
  const pageRouters = [
    // Payment pages before the order pages: they own /h5/orders/:no/pay/wechat and /paid.
    paymentPageRoutes(deps, render),
    oauthRoutes(deps, render), h5Routes(deps, render), bindingRoutes(deps, render), handlerRoutes(deps, render), handlerDocumentRoutes(deps, render), certificateRoutes(deps, render), renewalOrderRoutes(deps, render), invoiceRoutes(deps, render), capcRoutes(deps, render, capcStatic.version, keyAgentClientStatic.version), renewalApiRoutes(deps),
  ];
  pageRouters.push(renewalPageRoutes(deps, render, { capc: capcStatic.version, gdca: renewalPageStatic.version, keyAgentClient: keyAgentClientStatic.version }));
  if (config.sandbox && deps.sandboxWechat) {
    pageRouters.push(createSandboxOAuthRoutes(deps, deps.sandboxWechat, render), devWechatRoutes(deps, deps.sandboxWechat, render));
  }
  if (config.sandbox && deps.sandboxMailbox && !config.isProduction) pageRouters.push(devMailRoutes(deps, deps.sandboxMailbox, render));
  if (config.sandbox && deps.sandboxSms && !config.isProduction) pageRouters.push(devSmsRoutes(deps, deps.sandboxSms, render));
  for (const router of pageRouters) app.use(router.routes()).use(router.allowedMethods());
  return app;
}

declare module 'koa' {
  interface DefaultContext {
    render: import('./lib/views').RenderPage;
  }
}
