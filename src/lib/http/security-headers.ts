import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet from 'koa-helmet';
import type Koa from 'koa';

/**
 * Security headers for every response, through koa-helmet (helmet 8), and one Content-Security-Policy for every page
 * (H5, /capc/, error pages, the sandbox and dev pages), widened per route with `pagePolicy`.
 *
 * - Scripts: this site's files and inline scripts carrying this request's nonce (`nonce="{{ cspNonce }}"`); no inline
 *   event handlers (`script-src-attr 'none'`), no `javascript:` URLs, no eval.
 * - Styles: `<style>` elements need the nonce too (`style-src-elem`); `style=""` attributes stay allowed
 *   (`style-src-attr 'unsafe-inline'`) unless the page opts out. An attribute cannot load anything (`url()` in it
 *   is held by img-src) nor select other elements, so it cannot read the page the way an injected stylesheet can.
 * - No framing (`frame-ancestors 'none'`, X-Frame-Options DENY), no `<base>`, no plugins; forms post to this site
 *   and the pages it sends the user on to (WeChat OAuth, the liveness provider: a form's redirects count too).
 * - Referrer-Policy `same-origin`: nothing leaves for other sites; pages whose address carries a token or an OAuth
 *   code send no Referer at all (`pagePolicy({ noReferrer: true })`), not even to this site's own stylesheet.
 * - HSTS only when the site is served over https (production).
 */

/** What one route adds to the site-wide policy. Declare it once, at route set-up (the built header is cached per object). */
export interface PagePolicy {
  /** Script origins besides this site's, e.g. WECHAT_JS_SDK on a page that loads WeChat's JS-SDK. */
  readonly scripts?: readonly string[];
  /** fetch / XHR / WebSocket targets besides this site, e.g. the key agent on the user's PC. */
  readonly connect?: readonly string[];
  /** Image sources besides this site and data: (QR codes), e.g. `blob:` for previews of photos chosen on the phone. */
  readonly images?: readonly string[];
  /** Form targets besides this site and the site-wide ones. */
  readonly forms?: readonly string[];
  /** The page's address carries a token or an OAuth code: send no Referer from it at all. */
  readonly noReferrer?: boolean;
  /** `base-uri` instead of 'none', for a page whose third-party code reads its `<base href>` (the console's job board). */
  readonly base?: readonly string[];
  /** `<style>` elements besides nonced ones: hashes ('sha256-…') of third-party markup the page cannot nonce. */
  readonly styles?: readonly string[];
  /** false: the page has no `style=""` attributes, so they are refused too. */
  readonly styleAttributes?: boolean;
}

/** Where WeChat's JS-SDK (jweixin) is loaded from: pass it in `scripts` on the pages that load it. */
export const WECHAT_JS_SDK = 'https://res.wx.qq.com';

export interface SecurityHeaderOptions {
  /** Strict-Transport-Security: only where the site is reached over https, i.e. production. */
  hsts: boolean;
  /** Added to every page's form-action: where a form's redirects may lead (WeChat OAuth, the liveness provider). */
  formTargets: readonly string[];
  /**
   * Paths only servers call (the WeChat webhook, WeChat Pay's notify): no browser reads their answers, and the
   * headers cost ≈ 10–20 µs a request, a real share of the webhook's per-event budget in a burst.
   */
  machinePaths?: readonly string[];
}

interface RequestSecurity {
  readonly nonce: string;
}

const requestScope = new AsyncLocalStorage<RequestSecurity>();
const nonces = new WeakMap<ServerResponse, string>();
const POLICY_KEY = Symbol('pagePolicy');
const SITE_DEFAULT: PagePolicy = {};

/**
 * The nonce of the request being handled, for the views (`cspNonce`). The views are built once, before any request;
 * the request's scope carries the nonce to them without passing the context through every render call.
 */
export function currentCspNonce(): string | undefined {
  return requestScope.getStore()?.nonce;
}

/** Route middleware: this route's additions to the site's policy (see PagePolicy). */
export function pagePolicy(policy: PagePolicy): Koa.Middleware {
  return (ctx, next) => {
    (ctx.state as Record<symbol, PagePolicy>)[POLICY_KEY] = policy;
    return next();
  };
}

/**
 * Site-wide: mount before the error handler, so error pages get the nonce and the headers too. The static headers
 * are set on the way in; the CSP and Referrer-Policy on the way out, once the route has said what its page needs.
 */
export function securityHeaders(opts: SecurityHeaderOptions): Koa.Middleware {
  const common = helmet({
    contentSecurityPolicy: false, // per page, below
    referrerPolicy: false, // per page, below
    xFrameOptions: { action: 'deny' },
    // The site does not own its host's sub-domains: HSTS covers this host only.
    strictTransportSecurity: opts.hsts ? { maxAge: 365 * 86_400, includeSubDomains: false } : false,
    // The /capc/ page fetches from the key agent on 127.0.0.1; the agent's answers are not embedded resources.
    crossOriginEmbedderPolicy: false,
  });
  const referrer = { site: helmet.referrerPolicy({ policy: 'same-origin' }), none: helmet.referrerPolicy({ policy: 'no-referrer' }) };
  const policies = new WeakMap<PagePolicy, Koa.Middleware>();
  const cspFor = (page: PagePolicy): Koa.Middleware => {
    let middleware = policies.get(page);
    if (!middleware) {
      middleware = helmet.contentSecurityPolicy({ useDefaults: false, directives: directivesFor(page, opts) });
      policies.set(page, middleware);
    }
    return middleware;
  };
  const done = async () => undefined;
  const machinePaths = new Set(opts.machinePaths ?? []);

  return async (ctx, next) => {
    if (machinePaths.has(ctx.path)) return next();
    await common(ctx, done);
    const nonce = randomBytes(16).toString('base64');
    nonces.set(ctx.res, nonce);
    await requestScope.run({ nonce }, next);
    const page = (ctx.state as Record<symbol, PagePolicy | undefined>)[POLICY_KEY] ?? SITE_DEFAULT;
    await (page.noReferrer ? referrer.none : referrer.site)(ctx, done);
    // A policy governs documents; JSON, XML (the webhook) and stylesheets need only nosniff.
    if (ctx.response.is('html')) await cspFor(page)(ctx, done);
  };
}

const nonceSource = (_req: IncomingMessage, res: ServerResponse) => `'nonce-${nonces.get(res) ?? ''}'`;

function directivesFor(page: PagePolicy, opts: SecurityHeaderOptions): Record<string, Array<string | typeof nonceSource>> {
  const styleAttributes = page.styleAttributes ?? true;
  return {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'", nonceSource, ...(page.scripts ?? [])],
    scriptSrcAttr: ["'none'"],
    // Browsers without style-src-elem/-attr (older than 2022) fall back to style-src.
    styleSrc: styleAttributes ? ["'self'", "'unsafe-inline'"] : ["'self'", nonceSource],
    styleSrcElem: ["'self'", nonceSource, ...(page.styles ?? [])],
    styleSrcAttr: [styleAttributes ? "'unsafe-inline'" : "'none'"],
    imgSrc: ["'self'", 'data:', ...(page.images ?? [])],
    connectSrc: ["'self'", ...(page.connect ?? [])],
    formAction: ["'self'", ...opts.formTargets, ...(page.forms ?? [])],
    frameAncestors: ["'none'"],
    baseUri: page.base?.length ? [...page.base] : ["'none'"],
    objectSrc: ["'none'"],
  };
}
