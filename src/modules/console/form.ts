import type Koa from 'koa';
import { type Random } from '../../lib/clock';
import { ForbiddenError } from '../../lib/errors';
import { secretsEqual } from '../../lib/http/bearer';
import { readForm } from '../../lib/http/form';
import { consoleSessionOf } from './session';

const FORM_KEY = Symbol('consoleForm');
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The session's CSRF token, created on first use. */
export function consoleCsrfToken(ctx: Koa.Context, random: Random): string {
  const s = consoleSessionOf(ctx);
  s.csrf ??= random.bytes(24).toString('base64url');
  return s.csrf;
}


/**
 * CSRF for every state-changing request, in one place: the token comes from the `x-csrf-token` header (fetch), the
 * `_csrf` field of an urlencoded/JSON body (read here once and kept for readConsoleForm), or, for multipart uploads
 * (whose body the route's multer reads), the `_csrf` query parameter of the form's action. A browser that says the
 * request is cross-site (Sec-Fetch-Site) is refused whatever it carries.
 */
export function consoleCsrf(): Koa.Middleware {
  return async (ctx, next) => {
    if (SAFE.has(ctx.method)) return next();
    if (ctx.get('sec-fetch-site') === 'cross-site') throw new ForbiddenError('页面已过期，请刷新后再提交', 'console: cross-site request');
    let given = ctx.get('x-csrf-token');
    if (!given) {
      if (ctx.is('multipart')) given = typeof ctx.query._csrf === 'string' ? ctx.query._csrf : '';
      else {
        const form = await readForm(ctx, '64kb');
        (ctx.state as Record<symbol, unknown>)[FORM_KEY] = form;
        given = form._csrf ?? '';
      }
    }
    const expected = consoleSessionOf(ctx).csrf;
    if (!expected || !secretsEqual(given, expected)) throw new ForbiddenError('页面已过期，请刷新后再提交', 'console: CSRF token missing or wrong');
    return next();
  };
}

/** The urlencoded (or JSON) form of this request, as the CSRF check read it; `_csrf` removed. */
export async function readConsoleForm(ctx: Koa.Context): Promise<Record<string, string>> {
  const kept = (ctx.state as Record<symbol, Record<string, string> | undefined>)[FORM_KEY];
  const form = kept ?? (await readForm(ctx, '64kb'));
  (ctx.state as Record<symbol, unknown>)[FORM_KEY] = form;
  const { _csrf, ...fields } = form;
  void _csrf;
  return fields;
}
