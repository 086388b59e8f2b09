import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { ecdsaRawToDer, TOKEN_FLAGS, toAgentError } from '../../../src/key-agent/backends/pkcs11-util';

/** pkcs11js reports failures as errors whose message is the CKR_ name. */
const ckr = (name: string) => Object.assign(new Error(name), { code: 0 });

describe('PKCS#11 results → protocol errors', () => {
  const ctx = { mediaSerial: '0123456789abcdef', operation: 'sign' };

  const flags = (f: number) => (): number => f;
  const present = (p: boolean) => (): boolean => p;
  it.each([
    ['CKR_PIN_INCORRECT (no flags)', 'PIN_INCORRECT', {}, { triesLeft: null }],
    ['CKR_PIN_INCORRECT (final try flagged)', 'PIN_INCORRECT', { tokenFlags: flags(TOKEN_FLAGS.USER_PIN_FINAL_TRY) }, { triesLeft: 1 }],
    ['CKR_PIN_INCORRECT (now locked)', 'PIN_LOCKED', { tokenFlags: flags(TOKEN_FLAGS.USER_PIN_LOCKED) }, undefined],
    ['CKR_PIN_LOCKED', 'PIN_LOCKED', {}, undefined],
    ['CKR_DEVICE_REMOVED', 'DEVICE_REMOVED', {}, { mediaSerial: ctx.mediaSerial }],
    ['CKR_TOKEN_NOT_PRESENT', 'DEVICE_REMOVED', {}, { mediaSerial: ctx.mediaSerial }],
    ['CKR_SESSION_HANDLE_INVALID (token gone)', 'DEVICE_REMOVED', { stillPresent: present(false) }, { mediaSerial: ctx.mediaSerial }],
    ['CKR_SESSION_HANDLE_INVALID (token still there)', 'INTERNAL', { stillPresent: present(true) }, undefined],
    ['CKR_MECHANISM_INVALID', 'UNSUPPORTED_ALGORITHM', {}, undefined],
    ['CKR_GENERAL_ERROR', 'INTERNAL', {}, undefined],
  ] as const)('When a call fails with %s, then the agent answers %s', (name, code, extra, data) => {
    const err = toAgentError(ckr(name.split(' ')[0]), { ...ctx, ...extra });
    expect([err.codeName, err.data]).toEqual([code, data]);
    expect(err.detail).toContain(name.split(' ')[0]);
  });
});

describe('ECDSA signature format', () => {
  it('When the token gives r||s, then the DER form verifies as X.509 carries it, whatever the leading bits of r and s', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const seen = new Set<string>();
    for (let i = 0; seen.size < 3 && i < 400; i++) {
      const data = Buffer.from(`message ${i}`);
      const raw = sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
      // Cover a high bit (needs a 0x00 pad), a leading zero byte (must be stripped), and the plain case.
      const kind = raw[0] & 0x80 ? 'high' : raw[0] === 0 ? 'zero' : 'plain';
      if (seen.has(kind) && kind === 'plain') continue;
      seen.add(kind);
      expect(verify('sha256', data, { key: publicKey, dsaEncoding: 'der' }, ecdsaRawToDer(raw))).toBe(true);
    }
    expect(seen.has('high')).toBe(true);
  });
});
