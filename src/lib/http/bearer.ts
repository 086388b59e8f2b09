import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Whether an Authorization header carries `Bearer <expected>`, compared in constant time: both sides are hashed
 * first, so the comparison takes equal-length inputs and its time says nothing about the token's length or prefix.
 */
export function bearerMatches(authorization: string | undefined, expected: string): boolean {
  const given = authorization?.startsWith('Bearer ') ? authorization.slice('Bearer '.length) : '';
  return given.length > 0 && secretsEqual(given, expected);
}

/**
 * Two secrets (tokens, signatures) compared in constant time. Hashed first, so the inputs always have equal length:
 * comparing the raw strings' bytes threw (a 500) when a forged value had the right length in characters but not in
 * bytes, and the time said how long the secret is.
 */
export function secretsEqual(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/** The TCP peer is this machine. Note: a reverse proxy on the same host makes every request look like this. */
export function isLoopback(remoteAddress: string | undefined): boolean {
  return LOOPBACK.has(remoteAddress ?? '');
}
