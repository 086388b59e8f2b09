import type Koa from 'koa';
import session from 'koa-session';
import { type KeyValueStore } from '../../lib/store/types';

/** What the console keeps in its session (cookie `cam.admin`, data in the shared store under `admin-sess:`). */
export interface ConsoleSessionData {
  csrf?: string;
  operatorId?: number;
  /** When the operator logged in (ms): the absolute timeout counts from here. */
  loginAt?: number;
  /** Last request (ms, refreshed at most every 30 s): the idle timeout counts from here. */
  seenAt?: number;
  /** Last re-authentication (login or step-up), for requireStepUp. */
  stepUpAt?: number;
  /** Shown once on the login page (e.g. "登录已超时"). */
  flash?: string;
}

export type ConsoleSession = ConsoleSessionData & { regenerate(): Promise<void> };

export function consoleSessionOf(ctx: Koa.Context): ConsoleSession {
  const s = (ctx as unknown as { session?: ConsoleSession | null }).session;
  if (!s) throw new Error('console session middleware is not mounted');
  return s;
}

/**
 * The console's own session, apart from the H5 one (`cam.sid`): its own cookie and store keys, so an H5 session can
 * never be presented to the console or the other way round. SameSite=Strict (the console is never entered from
 * another site's link with state to keep). The store entry lives as long as the absolute timeout; the idle timeout
 * is checked on the server (guard.ts), not left to the cookie.
 */
export function consoleSessionMiddleware(app: Koa, store: KeyValueStore, opts: { secure: boolean; absoluteMs: number }): Koa.Middleware {
  return session(
    {
      key: 'cam.admin',
      maxAge: opts.absoluteMs,
      httpOnly: true,
      signed: true,
      sameSite: 'strict',
      secure: opts.secure,
      rolling: false,
      renew: false,
      store: {
        get: async (key: string) => {
          const raw = await store.get(`admin-sess:${key}`);
          return raw ? JSON.parse(raw) : undefined;
        },
        set: async (key: string, sess: unknown, maxAge: number | 'session' | undefined) => {
          await store.set(`admin-sess:${key}`, JSON.stringify(sess), { ttlMs: typeof maxAge === 'number' ? maxAge : opts.absoluteMs });
        },
        destroy: async (key: string) => {
          await store.del(`admin-sess:${key}`);
        },
      },
    },
    app,
  );
}
