import type Koa from 'koa';
import getRawBody from 'raw-body';
import { PayloadTooLargeError, ValidationError } from '../errors';

/**
 * Reads a small urlencoded or JSON body into flat string fields. The app has no body parser on purpose
 * (the webhook reads its raw body itself); page forms call this. Repeated keys keep the last value.
 */
export async function readForm(ctx: Koa.Context, limit = '16kb'): Promise<Record<string, string>> {
  let raw: string;
  try {
    raw = await getRawBody(ctx.req, { limit, encoding: 'utf8', length: ctx.get('content-length') || undefined });
  } catch (err) {
    if ((err as { type?: string }).type === 'entity.too.large') throw new PayloadTooLargeError('提交的内容过长', 'form body over limit', { cause: err });
    throw new ValidationError('提交的内容无法读取，请重试', `form body unreadable: ${(err as Error).message}`, { cause: err });
  }
  if (ctx.is('application/json')) {
    let parsed: unknown;
    try {
      parsed = raw ? JSON.parse(raw) : {};
    } catch (err) {
      throw new ValidationError('提交的内容格式不正确', 'JSON body does not parse', { cause: err });
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ValidationError('提交的内容格式不正确', 'JSON body is not an object');
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(parsed)) if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = String(v);
    return out;
  }
  return Object.fromEntries(new URLSearchParams(raw));
}
