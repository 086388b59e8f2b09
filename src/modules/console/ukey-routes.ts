import Router from '@koa/router';
import type Koa from 'koa';
import { type Deps } from '../../deps';
import { TooManyRequestsError, ValidationError } from '../../lib/errors';
import { createLimiter, isLimiterRefusal, minutesUntil } from '../../lib/http/rate-limit';
import { clientIp } from './network';
import { type RenderPage } from '../../lib/views';
import { consoleAudit } from './audit';
import { judgeLogin, loginLimits, startOperatorSession } from './auth-routes';
import { readConsoleForm } from './form';
import { operatorOf, requireStepUp, safeNext } from './guard';
import { OperatorService } from './operators';
import { consoleSessionOf } from './session';
import { keyAgentPolicy, OperatorUkeys, shortFingerprint, type UkeyPurpose } from './ukey';

const WRONG_UKEY = '用户名、密码或 U-KEY 验证不正确';

interface UkeySession { ukeyNonce?: string }
const ukeySession = (ctx: Koa.Context) => consoleSessionOf(ctx) as ReturnType<typeof consoleSessionOf> & UkeySession;

/**
 * U-KEY as the second factor: a challenge per attempt (single use, bound to this session and username), signed by
 * the operator's key through the key agent, checked against the enrolled certificate (its key, chain, revocation,
 * validity). Enrolment (/account/ukey) needs a fresh step-up and proves possession the same way.
 */
export function ukeyRoutes(deps: Deps, render: RenderPage): Router {
  const router = new Router();
  const ukeys = new OperatorUkeys(deps);
  const operators = new OperatorService(deps);
  const limits = loginLimits(deps);
  const audit = consoleAudit(deps);

  const issue = async (ctx: Koa.Context, purpose: UkeyPurpose, username: string) => {
    const challenge = await ukeys.issue(purpose, username);
    ukeySession(ctx).ukeyNonce = challenge.nonce;
    ctx.body = { dataBase64: challenge.dataBase64, expiresAt: challenge.expiresAt };
  };
  /** The session's challenge, forgotten whatever happens next (one try per challenge). */
  const takeChallenge = async (ctx: Koa.Context) => {
    const s = ukeySession(ctx);
    const nonce = s.ukeyNonce;
    delete s.ukeyNonce;
    return ukeys.take(nonce);
  };

  // Anyone may ask for a login challenge (it is a store write): 60 per address in 10 minutes.
  const challengeLimit = createLimiter(deps, 'console-ukey-challenge', 60, 600);
  router.post('/login/ukey/challenge', async (ctx) => {
    try {
      await challengeLimit.consume(clientIp(ctx));
    } catch (err) {
      if (isLimiterRefusal(err)) throw new TooManyRequestsError(`请求过于频繁，请 ${minutesUntil(err)} 分钟后再试`, 'console U-KEY challenge limit');
      throw err;
    }
    const form = await readConsoleForm(ctx);
    const username = (form.username ?? '').trim().toLowerCase();
    if (!username) throw new ValidationError('请先填写用户名', 'U-KEY challenge without a username');
    await issue(ctx, 'login', username);
  });

  router.post('/login/ukey', async (ctx) => {
    const form = await readConsoleForm(ctx);
    const username = (form.username ?? '').trim().toLowerCase();
    const data = await takeChallenge(ctx);
    const outcome = await judgeLogin(deps, limits, ctx, username, form.password ?? '', (op) => ukeys.accept(op, form.certificatePem ?? '', data, form.signatureBase64 ?? ''));
    if ('error' in outcome) {
      await audit.record(ctx, { action: 'login.fail', subject: `username:${username.slice(0, 64)}`, detail: { status: outcome.status, factor: 'ukey' } });
      ctx.status = outcome.status;
      ctx.body = { error: { message: outcome.status === 401 ? WRONG_UKEY : outcome.error } };
      return;
    }
    await startOperatorSession(deps, ctx, outcome.op, 'ukey');
    ctx.body = { next: safeNext(form.next) };
  });

  // Step-up with the U-KEY instead of a TOTP code: the password and a fresh signature again.
  router.post('/step-up/ukey/challenge', async (ctx) => {
    await readConsoleForm(ctx);
    await issue(ctx, 'step-up', operatorOf(ctx).username);
  });

  router.post('/step-up/ukey', async (ctx) => {
    const me = operatorOf(ctx);
    const form = await readConsoleForm(ctx);
    const data = await takeChallenge(ctx);
    const outcome = await judgeLogin(deps, limits, ctx, me.username, form.password ?? '', (op) => ukeys.accept(op, form.certificatePem ?? '', data, form.signatureBase64 ?? '', 'step-up'));
    if ('error' in outcome || outcome.op.id !== me.id) {
      await audit.record(ctx, { action: 'step-up.fail', subject: `operator:${me.id}`, detail: { factor: 'ukey' } });
      ctx.status = 'error' in outcome ? outcome.status : 401;
      ctx.body = { error: { message: 'error' in outcome && outcome.status !== 401 ? outcome.error : WRONG_UKEY } };
      return;
    }
    consoleSessionOf(ctx).stepUpAt = deps.clock.nowMs();
    await audit.record(ctx, { action: 'step-up', subject: `operator:${me.id}`, detail: { factor: 'ukey' } });
    ctx.body = { next: safeNext(form.next) };
  });

  router.get('/account/ukey', keyAgentPolicy(deps), requireStepUp(), async (ctx) => {
    const me = await operators.byId(operatorOf(ctx).id);
    ctx.body = render('console/account-ukey.njk', { title: '我的 U-KEY', enrolled: shortFingerprint(me?.ukeyFingerprint ?? null), keyAgentUrl: deps.config.certificates.keyAgentUrl });
  });

  router.post('/account/ukey/challenge', requireStepUp(), async (ctx) => {
    await readConsoleForm(ctx);
    await issue(ctx, 'enrol', operatorOf(ctx).username);
  });

  router.post('/account/ukey', requireStepUp(), async (ctx) => {
    const form = await readConsoleForm(ctx);
    const me = await operators.byId(operatorOf(ctx).id);
    const data = await takeChallenge(ctx);
    if (!me || !data) throw new ValidationError('验证已过期，请重新登记', 'U-KEY enrolment without a live challenge');
    const before = me.ukeyFingerprint;
    const fingerprint = await ukeys.enrol(me, form.certificatePem ?? '', data, form.signatureBase64 ?? '');
    await audit.record(ctx, { action: 'ukey.enrol', subject: `operator:${me.id}`, before: { fingerprint: before }, after: { fingerprint } });
    ctx.body = { fingerprint: shortFingerprint(fingerprint) };
  });

  return router;
}
