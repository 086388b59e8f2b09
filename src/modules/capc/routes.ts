import Router from '@koa/router';
import type Koa from 'koa';
import getRawBody from 'raw-body';
import { type z } from 'zod';
import { type Deps } from '../../deps';
import { AppError, ForbiddenError, PayloadTooLargeError, TooManyRequestsError, ValidationError } from '../../lib/errors';
import { createLimiter, isLimiterRefusal } from '../../lib/http/rate-limit';
import { pagePolicy } from '../../lib/http/security-headers';
import { CSS_TYPE, JS_TYPE, staticAssets } from '../../lib/http/static-assets';
import { type RenderPage } from '../../lib/views';
import { bindCodeInput, describeInput, emptyInput, firstIssue } from './schemas';
import { CapcService } from './service';

const BODY_LIMIT = '32kb';

class UnsupportedMediaTypeError extends AppError {
  readonly status = 415;
  readonly code = 'UNSUPPORTED_MEDIA_TYPE';
}

/** What /capc/ keeps in the page session: a random key the challenge is bound to, and the challenge in flight. */
interface CapcSession {
  capcKey?: string;
  capcChallenge?: string;
}

function capcSession(ctx: Koa.Context): CapcSession {
  const session = (ctx as unknown as { session?: CapcSession | null }).session;
  if (!session) throw new Error('session middleware is not mounted before the /capc/ routes');
  return session;
}

/** public/capc/: the page's script and stylesheet (the stylesheet is also the PC renewal page's layout). */
export function capcAssets(deps: Pick<Deps, 'config'>): { middleware: Koa.Middleware; version: string } {
  return staticAssets({ folder: 'capc', files: { 'capc.js': JS_TYPE, 'capc.css': CSS_TYPE }, reread: deps.config.env === 'development' });
}

/** public/shared/key-agent-client.js: the key agent's browser client, which /capc/ and the PC renewal page load. */
export function keyAgentClientAssets(deps: Pick<Deps, 'config'>): { middleware: Koa.Middleware; version: string } {
  return staticAssets({ folder: 'shared', files: { 'key-agent-client.js': JS_TYPE }, reread: deps.config.env === 'development' });
}

/**
 * Per session and IP (a user retrying), and per IP alone (someone dropping the cookie to start over). The
 * per-IP limits are high: a company's PCs often share one address.
 */
function rateLimit(deps: Deps, name: string, perSession: number, perIp: number, durationSec = 600): Koa.Middleware {
  const bySession = createLimiter(deps, `capc:${name}:s`, perSession, durationSec);
  const byIp = createLimiter(deps, `capc:${name}:ip`, perIp, durationSec);
  return async (ctx, next) => {
    // The session key is made here, before counting, so that each new visitor has its own bucket.
    const session = capcSession(ctx);
    session.capcKey ??= deps.random.bytes(18).toString('base64url');
    try {
      await byIp.consume(ctx.ip);
      await bySession.consume(`${ctx.ip}:${session.capcKey}`);
    } catch (err) {
      if (!isLimiterRefusal(err)) throw err;
      ctx.set('Retry-After', String(Math.ceil(err.msBeforeNext / 1000)));
      throw new TooManyRequestsError('操作过于频繁，请稍后再试', `capc ${name} rate limit for ${ctx.ip}`);
    }
    return next();
  };
}

/**
 * The JSON API's door (errors are JSON: /capc/api/ is an API prefix of the error middleware), the body must be JSON, and a browser's
 * Origin, when sent, must be this site (a form or script on another site cannot drive the API with the user's cookie).
 */
export function jsonApi(siteOrigin: string): Koa.Middleware {
  return async (ctx, next) => {
    ctx.set('Cache-Control', 'no-store');
    const origin = ctx.get('Origin');
    if (origin && origin !== siteOrigin) throw new ForbiddenError('请通过官方网址打开绑定页面后重试', `cross-origin API call from ${origin.slice(0, 100)} (site is ${siteOrigin})`);
    if (!ctx.is('application/json')) throw new UnsupportedMediaTypeError('请求格式不正确，请刷新页面后重试', `content-type ${ctx.get('Content-Type') || 'missing'} is not application/json`);
    return next();
  };
}

export async function readJson<T>(ctx: Koa.Context, schema: z.ZodType<T>): Promise<T> {
  let raw: string;
  try {
    raw = await getRawBody(ctx.req, { limit: BODY_LIMIT, encoding: 'utf8', length: ctx.get('content-length') || undefined });
  } catch (err) {
    if ((err as { type?: string }).type === 'entity.too.large') throw new PayloadTooLargeError('提交的内容过长', `capc body over ${BODY_LIMIT}`, { cause: err });
    throw new ValidationError('提交的内容无法读取，请重试', `capc body unreadable: ${(err as Error).message}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = raw.trim() ? JSON.parse(raw) : {};
  } catch (err) {
    throw new ValidationError('提交的内容格式不正确', 'capc body is not JSON', { cause: err });
  }
  const result = schema.safeParse(parsed);
  if (!result.success) {
    const { message, detail } = firstIssue(result.error);
    throw new ValidationError(message, `capc input: ${detail}`);
  }
  return result.data;
}

/** GET /capc/ (the page) and its JSON API under /capc/api/. */
/** Phones and tablets, WeChat's in-app browser among them: the page needs a U-KEY plugged into a PC. */
const PHONE_BROWSER = /Mobile|Android|iPhone|iPad|HarmonyOS|MicroMessenger/i;

export function capcRoutes(deps: Deps, render: RenderPage, assetVersion: string, keyAgentClientVersion: string): Router {
  const router = new Router();
  const { config } = deps;
  const service = new CapcService(deps);
  const siteOrigin = new URL(config.publicBaseUrl).origin;
  const agentOrigin = new URL(config.certificates.keyAgentUrl).origin;
  const api = jsonApi(siteOrigin);
  const now = () => new Date(deps.clock.nowMs());

  const page = (ctx: Koa.Context) => {
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = render('capc/index.njk', {
      title: '获取证书绑定码 - 数安CA管家', heading: '证书绑定', sandbox: config.sandbox,
      agentUrl: config.certificates.keyAgentUrl, siteOrigin, graceDays: config.certificates.bindExpiredGraceDays, assetVersion, keyAgentClientVersion,
      // The 绑定 reply links here, so phones arrive: they get told to use a PC (a narrow window gets it from CSS).
      phone: PHONE_BROWSER.test(ctx.get('User-Agent')),
    });
  };
  // The PIN is typed here: the site-wide policy (no framing, scripts only from us) plus connections to the key agent;
  // the page has no style attributes, so none are allowed.
  const policy = pagePolicy({ connect: [agentOrigin], styleAttributes: false });
  // A route without the trailing slash also matches with one: this serves both /capc/ (the seed's address) and /capc.
  router.get('/capc', policy, page);

  router.post('/capc/api/challenge', api, rateLimit(deps, 'challenge', 30, 600), async (ctx) => {
    await readJson(ctx, emptyInput);
    const session = capcSession(ctx);
    const challenge = await service.issueChallenge(session.capcKey!);
    // A newer challenge replaces the one in flight: only the latest can be used.
    session.capcChallenge = challenge.nonceBase64;
    ctx.body = { dataBase64: challenge.dataBase64, text: challenge.text, expiresAt: challenge.expiresAt.toISOString() };
  });

  router.post('/capc/api/describe', api, rateLimit(deps, 'describe', 60, 600), async (ctx) => {
    const input = await readJson(ctx, describeInput);
    ctx.body = { certificates: service.describe(input.certificates, now()) };
  });

  router.post('/capc/api/bind-code', api, rateLimit(deps, 'bind', 20, 300), async (ctx) => {
    const input = await readJson(ctx, bindCodeInput);
    const session = capcSession(ctx);
    const nonce = session.capcChallenge;
    // Forget it whatever happens next: a challenge is presented once.
    delete session.capcChallenge;
    if (!session.capcKey || !nonce) throw new ValidationError('验证已过期，请重新获取绑定码', 'bind-code without a challenge in the session');
    ctx.body = await service.bindCode(session.capcKey, nonce, input, now());
  });

  return router;
}
