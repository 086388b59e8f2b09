import { bearerMatches, isLoopback, secretsEqual } from '../../../src/lib/http/bearer';

describe('operator checks for /healthz details and /metrics', () => {
  it('When the Authorization header carries exactly the token as a bearer, then it matches; anything else does not', () => {
    const token = 'metrics-token-0123456789';
    expect(bearerMatches(`Bearer ${token}`, token)).toBe(true);
    for (const header of [undefined, '', 'Bearer ', `Bearer ${token}x`, `Bearer ${token.slice(0, -1)}`, `bearer ${token}`, `Basic ${token}`, token, `Bearer  ${token}`]) {
      expect({ header, matches: bearerMatches(header, token) }).toEqual({ header, matches: false });
    }
  });

  it('When the peer is this machine (IPv4, IPv6, IPv4-mapped), then it is loopback; any other address or none is not', () => {
    for (const ip of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) expect(isLoopback(ip)).toBe(true);
    for (const ip of [undefined, '', '10.0.0.1', '203.0.113.5', '::ffff:10.0.0.1', '127.0.0.2x']) expect(isLoopback(ip)).toBe(false);
  });

  it('When a forged token has the right length in characters but not in bytes, then it is simply not equal (no throw)', () => {
    const token = 'abcdefghijklmnopqrstuvwx';
    expect(secretsEqual(token, token)).toBe(true);
    expect(secretsEqual('证'.repeat(token.length), token)).toBe(false);
    expect(secretsEqual('', token)).toBe(false);
  });
});
