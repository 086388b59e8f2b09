import type Koa from 'koa';
import { type Deps } from '../../deps';
import { type Clock, systemClock } from '../../lib/clock';
import { ForbiddenError, UnauthorizedError } from '../../lib/errors';
import { identityOf, type OperatorIdentity, OperatorService } from './operators';
import { type OperatorRole, ROLE_LABELS } from './roles';
import { consoleSessionOf } from './session';

/** A re-authentication (login or /step-up) is good for sensitive actions this long. */
export const STEP_UP_MS = 5 * 60_000;
/** The idle clock is written back at most this often (a session write per request would be a store write per request). */
const SEEN_WRITE_MS = 30_000;
/** Paths that answer without a login. */
const OPEN_PATHS = new Set(['/login', '/login/ukey/challenge', '/login/ukey']);

declare module 'koa' {
  interface DefaultState {
    operator?: OperatorIdentity;
  }
}

/** A local path to return to after login (never another site: no scheme, no `//`, no backslash). */
export function safeNext(value: unknown): string {
  return typeof value === 'string' && value.startsWith('/') && !value.startsWith('//') && !value.includes('\\') && value.length < 500 ? value : '/';
}

export function operatorOf(ctx: Koa.Context): OperatorIdentity {
  const op = ctx.state.operator;
  if (!op) throw new UnauthorizedError('请先登录', 'console: no operator on the request');
  return op;
}

/**
 * Who is asking: the session's operator, re-read from the database on every request (so disabling an operator or
 * changing their roles takes effect at once), within the idle and absolute timeouts. Without one, a GET goes to
 * /login?next=…, anything else gets 401 and nothing more.
 */
export function consoleAuth(deps: Pick<Deps, 'config' | 'clock' | 'db' | 'pii' | 'logger'>): Koa.Middleware {
  const operators = new OperatorService(deps);
  const { idleMs, absoluteMs } = deps.config.console;
  return async (ctx, next) => {
    const s = consoleSessionOf(ctx);
    const now = deps.clock.nowMs();
    if (s.operatorId !== undefined) {
      const expired = now - (s.loginAt ?? 0) > absoluteMs ? '登录已超过最长时限，请重新登录' : now - (s.seenAt ?? 0) > idleMs ? '长时间未操作，请重新登录' : null;
      const op = expired ? null : await operators.byId(s.operatorId);
      if (op && !op.disabled) {
        ctx.state.operator = identityOf(op);
        if (now - (s.seenAt ?? 0) > SEEN_WRITE_MS) s.seenAt = now;
      } else {
        for (const key of ['operatorId', 'loginAt', 'seenAt', 'stepUpAt'] as const) delete s[key];
        s.flash = expired ?? '账号已停用或不存在，请联系管理员';
      }
    }
    if (ctx.state.operator || OPEN_PATHS.has(ctx.path) || ctx.path.startsWith('/static/')) return next();
    if (ctx.method === 'GET' || ctx.method === 'HEAD') {
      ctx.redirect(`/login?next=${encodeURIComponent(safeNext(ctx.originalUrl))}`);
      return;
    }
    throw new UnauthorizedError('登录已失效，请重新登录', 'console: request without a logged-in operator');
  };
}

/** Route guard: the operator must hold at least one of these roles (403 page otherwise). Every section route uses it. */
export function requireRole(...roles: OperatorRole[]): Koa.Middleware {
  if (roles.length === 0) throw new Error('requireRole needs at least one role');
  return (ctx, next) => {
    const op = operatorOf(ctx);
    if (!op.roles.some((r) => roles.includes(r))) {
      throw new ForbiddenError(`此功能仅限${roles.map((r) => ROLE_LABELS[r]).join('、')}使用`, `console: ${op.username} lacks ${roles.join('|')} for ${ctx.method} ${ctx.path}`);
    }
    return next();
  };
}

export const hasRole = (ctx: Koa.Context, role: OperatorRole) => !!ctx.state.operator?.roles.includes(role);

const CLOCK_KEY = Symbol('consoleClock');

/** The app's clock (an injected one in tests), for guards that have no deps of their own. */
export function attachClock(app: Koa, clock: Clock): void {
  (app.context as unknown as Record<symbol, Clock>)[CLOCK_KEY] = clock;
}

export const consoleNowMs = (ctx: Koa.Context) => ((ctx as unknown as Record<symbol, Clock | undefined>)[CLOCK_KEY] ?? systemClock).nowMs();

/** True when the operator re-authenticated within STEP_UP_MS. */
export function steppedUp(ctx: Koa.Context, nowMs: number): boolean {
  const at = consoleSessionOf(ctx).stepUpAt;
  return at !== undefined && nowMs - at <= STEP_UP_MS;
}

/**
 * Sensitive actions (approvals, personal-data exports, revocations): the operator must have re-authenticated in the
 * last 5 minutes. A GET is sent to /step-up and back; a POST is refused with a link (its body cannot be replayed).
 */
export function requireStepUp(): Koa.Middleware {
  return (ctx, next) => {
    operatorOf(ctx);
    if (steppedUp(ctx, consoleNowMs(ctx))) return next();
    if (ctx.method === 'GET' || ctx.method === 'HEAD') {
      ctx.redirect(`/step-up?next=${encodeURIComponent(safeNext(ctx.originalUrl))}`);
      return;
    }
    throw new ForbiddenError('此操作需要再次验证身份：请先到“再次验证”页面（/step-up）完成验证，再返回重新提交', `console: step-up needed for ${ctx.method} ${ctx.path}`);
  };
}
