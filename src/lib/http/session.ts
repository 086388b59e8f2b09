import type Koa from 'koa';
import session from 'koa-session';
import { type KeyValueStore } from '../store/types';

const MAX_AGE_MS = 7 * 24 * 3600_000;

/**
 * Sessions live in the shared store (Redis in production) so any instance serves any request; the cookie
 * holds only a signed id. httpOnly, SameSite=Lax (OAuth returns by top-level GET), Secure on https.
 */
export function sessionMiddleware(app: Koa, store: KeyValueStore, secure: boolean): Koa.Middleware {
  return session(
    {
      key: 'cam.sid',
      maxAge: MAX_AGE_MS,
      httpOnly: true,
      signed: true,
      sameSite: 'lax',
      secure,
      rolling: false,
      renew: true,
      store: {
        get: async (key: string) => {
          const raw = await store.get(`sess:${key}`);
          return raw ? JSON.parse(raw) : undefined;
        },
        set: async (key: string, sess: unknown, maxAge: number | 'session' | undefined) => {
          await store.set(`sess:${key}`, JSON.stringify(sess), { ttlMs: typeof maxAge === 'number' ? maxAge : MAX_AGE_MS });
        },
        destroy: async (key: string) => {
          await store.del(`sess:${key}`);
        },
      },
    },
    app,
  );
}
