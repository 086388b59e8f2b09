import { BlockList, isIP } from 'node:net';
import type Koa from 'koa';
import { ForbiddenError } from '../../lib/errors';

/** '::ffff:10.1.2.3' (an IPv4 peer on a dual-stack socket) → '10.1.2.3'. */
export const normaliseIp = (ip: string) => (ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip);

/**
 * Forwarded headers count only when the socket peer is the one configured proxy: from anyone else they are removed
 * before Koa reads them (app.proxy is on only when a proxy is configured, with maxIpsCount 1: the entry that proxy
 * appended). So a client cannot dodge the allow-list, nor claim https, with headers of its own.
 */
export function trustedProxyOnly(trustedProxy: string | undefined): Koa.Middleware {
  const proxy = trustedProxy ? normaliseIp(trustedProxy) : undefined;
  return (ctx, next) => {
    const peer = normaliseIp(ctx.req.socket.remoteAddress ?? '');
    if (!proxy || peer !== proxy) {
      for (const h of ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-real-ip', 'forwarded']) delete ctx.req.headers[h];
    }
    return next();
  };
}

export function buildAllowList(entries: readonly string[]): BlockList | null {
  if (entries.length === 0) return null;
  const list = new BlockList();
  for (const entry of entries) {
    const [address, bits] = entry.split('/') as [string, string | undefined];
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(bits), type);
  }
  return list;
}

/** The client address as the console sees it (after trustedProxyOnly). */
export const clientIp = (ctx: Koa.Context) => normaliseIp(ctx.ip || ctx.req.socket.remoteAddress || '');

/** ADMIN_IP_ALLOWLIST: anyone else gets a 403 before any session is read. */
export function ipAllowList(entries: readonly string[]): Koa.Middleware {
  const list = buildAllowList(entries);
  return (ctx, next) => {
    if (!list) return next();
    const ip = clientIp(ctx);
    const family = isIP(ip);
    if (!family || !list.check(ip, family === 6 ? 'ipv6' : 'ipv4')) throw new ForbiddenError('您所在的网络不能访问控制台', `console: ${ip} is not on ADMIN_IP_ALLOWLIST`);
    return next();
  };
}
