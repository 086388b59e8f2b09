import type Koa from 'koa';
import { type Random } from '../clock';
import { ForbiddenError } from '../errors';
import { secretsEqual } from './bearer';

interface CsrfSession { csrf?: string }

function sessionOf(ctx: Koa.Context): CsrfSession {
  const session = (ctx as unknown as { session?: CsrfSession | null }).session;
  if (!session) throw new Error('session middleware is not mounted');
  return session;
}

/**
 * The per-session token every state-changing form carries (hidden field `_csrf`). SameSite=Lax cookies already
 * stop most cross-site posts; the token also covers old WebViews that ignore SameSite.
 */
export function csrfToken(ctx: Koa.Context, random: Random): string {
  const session = sessionOf(ctx);
  session.csrf ??= random.bytes(24).toString('base64url');
  return session.csrf;
}

export function verifyCsrf(ctx: Koa.Context, form: Record<string, string>): void {
  const expected = sessionOf(ctx).csrf;
  const given = form._csrf ?? '';
  const ok = !!expected && secretsEqual(given, expected);
  if (!ok) throw new ForbiddenError('页面已过期，请返回重新打开后再提交', 'CSRF token missing or wrong');
}
