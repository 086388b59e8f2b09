import Router from '@koa/router';
import type Koa from 'koa';
import { type Deps } from '../../deps';
import { createLimiter, FailureLimit, LockedOutError, spendAll } from '../../lib/http/rate-limit';
import { type RenderPage } from '../../lib/views';
import { consoleAudit } from './audit';
import { consoleCsrfToken, readConsoleForm } from './form';
import { operatorOf, safeNext } from './guard';
import { clientIp } from './network';
import { type Operator } from './entities';
import { OperatorService } from './operators';
import { consoleSessionOf } from './session';
import { keyAgentPolicy } from './ukey';

/** Wrong logins allowed per username and per address in 15 minutes, before that key is locked for the rest of it. */
export const WRONG_LOGIN = '用户名、密码或动态验证码不正确（每个验证码只能使用一次）';
export const LOGIN_LIMITS = { perUser: 5, perIp: 20, windowSec: 15 * 60 };
const WRONG = WRONG_LOGIN;

/**
 * The failure limits of console logins and step-ups: one per username, one per client address, both atomic
 * (FailureLimit: the point is taken before the guess is judged and given back when it was right).
 */
export function loginLimits(deps: Pick<Deps, 'config' | 'store'>) {
  return {
    user: new FailureLimit(createLimiter(deps, 'console-login-user', LOGIN_LIMITS.perUser, LOGIN_LIMITS.windowSec), 'console login (user)'),
    ip: new FailureLimit(createLimiter(deps, 'console-login-ip', LOGIN_LIMITS.perIp, LOGIN_LIMITS.windowSec), 'console login (ip)'),
  };
}

export type SecondFactor = (op: Operator) => Promise<boolean>;

/**
 * Judges one password + second factor attempt under both limits. Returns the operator, or a Chinese message
 * (wrong, or locked out with the minutes left). Which part was wrong is never said.
 */
export async function judgeLogin(deps: Deps, limits: ReturnType<typeof loginLimits>, ctx: Koa.Context, username: string, password: string, second: SecondFactor): Promise<{ op: Operator } | { error: string; status: number }> {
  const name = username.trim().toLowerCase();
  let giveBack: () => Promise<void>;
  try {
    giveBack = await spendAll([[limits.user, name || '-'], [limits.ip, clientIp(ctx)]]);
  } catch (err) {
    if (err instanceof LockedOutError) return { error: `${err.userMessage}（连续输错次数过多，账号或网络地址已被暂时锁定）`, status: 429 };
    throw err;
  }
  const op = name && password ? await new OperatorService(deps).checkPassword(name, password) : null;
  const ok = op ? await second(op) : false;
  if (!op || !ok) return { error: WRONG, status: 401 };
  await giveBack();
  return { op };
}

/** A new session id at login (no fixation), a new CSRF token, the timeouts' clocks started. */
export async function startOperatorSession(deps: Deps, ctx: Koa.Context, op: Operator, factor: 'totp' | 'ukey'): Promise<void> {
  const s = consoleSessionOf(ctx);
  const now = deps.clock.nowMs();
  // Nothing of the anonymous session survives (koa-session keeps its own state in `_…` fields and isNew).
  for (const key of Object.keys(s)) if (key[0] !== '_' && key !== 'isNew') delete (s as unknown as Record<string, unknown>)[key];
  Object.assign(s, { operatorId: op.id, loginAt: now, seenAt: now, stepUpAt: now, csrf: deps.random.bytes(24).toString('base64url') });
  await s.regenerate();
  await new OperatorService(deps).recordLogin(op.id);
  await consoleAudit(deps).record(ctx, { action: 'login', subject: `operator:${op.id}`, detail: { factor } }, { id: op.id, username: op.username });
}

export function authRoutes(deps: Deps, render: RenderPage): Router {
  const router = new Router();
  const operators = new OperatorService(deps);
  const audit = consoleAudit(deps);
  const limits = loginLimits(deps);

  const loginPage = (ctx: Koa.Context, data: { error?: string; username?: string; next: string }) => {
    const s = consoleSessionOf(ctx);
    const flash = s.flash;
    delete s.flash;
    ctx.body = render('console/login.njk', { title: '登录', csrfToken: consoleCsrfToken(ctx, deps.random), flash, keyAgentUrl: deps.config.certificates.keyAgentUrl, ...data });
  };

  router.get('/login', keyAgentPolicy(deps), async (ctx) => {
    if (ctx.state.operator) return ctx.redirect(safeNext(ctx.query.next));
    loginPage(ctx, { next: safeNext(ctx.query.next) });
  });

  router.post('/login', async (ctx) => {
    const form = await readConsoleForm(ctx);
    const next = safeNext(form.next);
    const username = (form.username ?? '').trim().toLowerCase();
    const outcome = await judgeLogin(deps, limits, ctx, username, form.password ?? '', (op) => operators.acceptTotp(op, (form.code ?? '').trim(), 'console-login'));
    if ('error' in outcome) {
      await audit.record(ctx, { action: 'login.fail', subject: `username:${username.slice(0, 64)}`, detail: { status: outcome.status } });
      ctx.status = outcome.status;
      return loginPage(ctx, { error: outcome.error, username, next });
    }
    await startOperatorSession(deps, ctx, outcome.op, 'totp');
    ctx.redirect(next);
  });

  router.post('/logout', async (ctx) => {
    const op = operatorOf(ctx);
    await audit.record(ctx, { action: 'logout', subject: `operator:${op.id}` });
    (ctx as unknown as { session: null }).session = null;
    ctx.redirect('/login');
  });

  router.get('/step-up', keyAgentPolicy(deps), async (ctx) => {
    operatorOf(ctx);
    ctx.body = render('console/step-up.njk', { title: '再次验证身份', next: safeNext(ctx.query.next), keyAgentUrl: deps.config.certificates.keyAgentUrl });
  });

  // Re-authentication before sensitive actions: the password and a fresh second factor again, under the login limits.
  router.post('/step-up', keyAgentPolicy(deps), async (ctx) => {
    const me = operatorOf(ctx);
    const form = await readConsoleForm(ctx);
    const next = safeNext(form.next);
    const outcome = await judgeLogin(deps, limits, ctx, me.username, form.password ?? '', (op) => operators.acceptTotp(op, (form.code ?? '').trim(), 'console-step-up'));
    if ('error' in outcome || outcome.op.id !== me.id) {
      await audit.record(ctx, { action: 'step-up.fail', subject: `operator:${me.id}` });
      ctx.status = 'error' in outcome ? outcome.status : 401;
      ctx.body = render('console/step-up.njk', { title: '再次验证身份', next, error: 'error' in outcome ? outcome.error : WRONG, keyAgentUrl: deps.config.certificates.keyAgentUrl });
      return;
    }
    consoleSessionOf(ctx).stepUpAt = deps.clock.nowMs();
    await audit.record(ctx, { action: 'step-up', subject: `operator:${me.id}`, detail: { factor: 'totp' } });
    ctx.redirect(next);
  });

  return router;
}
