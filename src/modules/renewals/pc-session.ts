import { createHash } from 'node:crypto';
import type Koa from 'koa';
import { type Deps } from '../../deps';
import { AppError } from '../../lib/errors';
import { secretsEqual } from '../../lib/http/bearer';

/**
 * The PC renewal page's own session (`cam.pc`): httpOnly, SameSite=Strict, signed, kept in the shared store
 * for 12 hours. It holds only the CSRF token the page renders into `<meta name="csrf-token">` and sends back
 * as `X-CSRF-Token`; a renewal's challenge is bound to it. Separate from the phone's `cam.sid` (SameSite=Lax for
 * OAuth): nothing of WeChat is needed on the PC, and Strict keeps every cross-site request cookie-less.
 */
export const PC_SESSION_COOKIE = 'cam.pc';
const TTL_MS = 12 * 3_600_000;
const storeKey = (id: string) => `pc:${id}`;

export interface PcSession {
  id: string;
  csrf: string;
  /** SHA-256 of the id: what records bind to (the id itself is a bearer secret). */
  binding: string;
}

export class PcSessionError extends AppError {
  readonly status = 403;
  readonly code = 'SESSION_EXPIRED';
}

const bindingOf = (id: string) => createHash('sha256').update(`cam.pc:${id}`).digest('hex');

async function read(ctx: Koa.Context, deps: Pick<Deps, 'store'>): Promise<PcSession | null> {
  const id = ctx.cookies.get(PC_SESSION_COOKIE, { signed: true });
  if (!id || !/^[A-Za-z0-9_-]{32}$/.test(id)) return null;
  const raw = await deps.store.get(storeKey(id));
  if (!raw) return null;
  const { csrf } = JSON.parse(raw) as { csrf: string };
  return { id, csrf, binding: bindingOf(id) };
}

/** The page route: the current PC session, or a new one (cookie set on this response). */
export async function ensurePcSession(ctx: Koa.Context, deps: Pick<Deps, 'store' | 'random' | 'config'>): Promise<PcSession> {
  const existing = await read(ctx, deps);
  if (existing) return existing;
  const id = deps.random.bytes(24).toString('base64url');
  const csrf = deps.random.bytes(24).toString('base64url');
  await deps.store.set(storeKey(id), JSON.stringify({ csrf }), { ttlMs: TTL_MS });
  ctx.cookies.set(PC_SESSION_COOKIE, id, { httpOnly: true, sameSite: 'strict', signed: true, secure: deps.config.secureCookies, maxAge: TTL_MS, overwrite: true });
  return { id, csrf, binding: bindingOf(id) };
}

/** The API: a live PC session whose CSRF token the request carries in `X-CSRF-Token`; else 403 SESSION_EXPIRED. */
export async function requirePcSession(ctx: Koa.Context, deps: Pick<Deps, 'store'>): Promise<PcSession> {
  const session = await read(ctx, deps);
  const given = ctx.get('X-CSRF-Token');
  const ok = !!session && secretsEqual(given, session.csrf);
  if (!ok) throw new PcSessionError('页面已过期，请刷新页面后重试', session ? 'X-CSRF-Token missing or wrong' : 'no live cam.pc session');
  return session!;
}
