import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Whether an Authorization header carries `Bearer <expected>`, compared in constant time: both sides are hashed
 * first, so the comparison takes equal-length inputs and its time says nothing about the token's length or prefix.
 */
export function bearerMatches(authorization: string | undefined, expected: string): boolean {
  const given = authorization?.startsWith('Bearer ') ? authorization.slice('Bearer '.length) : '';
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected)) && given.length > 0;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/** The TCP peer is this machine. Note: a reverse proxy on the same host makes every request look like this. */
export function isLoopback(remoteAddress: string | undefined): boolean {
  return LOOPBACK.has(remoteAddress ?? '');
}
