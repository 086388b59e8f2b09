import { randomBytes } from 'node:crypto';
import { parsePiiKeys, type PiiAuditEvent, PiiVault, PiiVaultError } from '../../../src/lib/pii/vault';

const k1 = { id: 'k1', key: randomBytes(32) };
const k2 = { id: 'k2', key: randomBytes(32) };
const hmacKey = randomBytes(32);
const ID = '11010519491231002X';
const who = { actor: 'system:test', reason: 'unit-test', subject: 'attempt-1' };

function vault(keys = [k1], audit: PiiAuditEvent[] = []) {
  return new PiiVault(keys, hmacKey, (e) => audit.push(e), () => 1_000);
}

describe('PII vault', () => {
  it('When a value is sealed and opened, then it round-trips, the ciphertext differs each time and never contains the value', () => {
    const v = vault();
    const a = v.encrypt(ID, 'id-number');
    const b = v.encrypt(ID, 'id-number');
    expect(a).not.toBe(b);
    expect(a).not.toContain(ID);
    expect(a.length).toBeLessThan(255);
    expect(a.startsWith('v1.k1.')).toBe(true);
    expect(v.decrypt(a, 'id-number', who)).toBe(ID);
  });

  it('When any part of the ciphertext is changed, then decrypt refuses it', () => {
    const v = vault();
    const sealed = v.encrypt(ID, 'id-number');
    const parts = sealed.split('.');
    for (const i of [2, 3, 4]) {
      const buf = Buffer.from(parts[i]!, 'base64url');
      buf[0]! ^= 1;
      const forged = [...parts.slice(0, i), buf.toString('base64url'), ...parts.slice(i + 1)].join('.');
      expect(() => v.decrypt(forged, 'id-number', who)).toThrow(PiiVaultError);
    }
    expect(() => v.decrypt(sealed, 'name', who)).toThrow(/failed authentication/);
    expect(() => v.decrypt('garbage', 'id-number', who)).toThrow(/not a sealed value/);
  });

  it('When the key is rotated, then old values still open by their key id, new ones use the new key, and reencrypt moves them', () => {
    const old = vault([k1]).encrypt(ID, 'id-number');
    const rotated = vault([k2, k1]);
    expect(rotated.decrypt(old, 'id-number', who)).toBe(ID);
    expect(rotated.needsReencryption(old)).toBe(true);
    const moved = rotated.reencrypt(old, 'id-number', who);
    expect(rotated.keyIdOf(moved)).toBe('k2');
    expect(rotated.needsReencryption(moved)).toBe(false);
    // After the old key is dropped, only re-encrypted values open.
    const onlyNew = vault([k2]);
    expect(onlyNew.decrypt(moved, 'id-number', who)).toBe(ID);
    expect(() => onlyNew.decrypt(old, 'id-number', who)).toThrow(/unknown key id k1/);
  });

  it('When a key id in a sealed value is edited to another known key, then the tag check fails', () => {
    const v = vault([k1, k2]);
    const sealed = v.encrypt(ID, 'id-number').replace('.k1.', '.k2.');
    expect(() => v.decrypt(sealed, 'id-number', who)).toThrow(PiiVaultError);
  });

  it('When values are indexed, then the HMAC is stable across instances and keys rotation, and differs per purpose and value', () => {
    const a = vault([k1]).index(ID, 'id-number');
    expect(vault([k2, k1]).index(ID, 'id-number')).toBe(a);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(vault().index(ID, 'other')).not.toBe(a);
    expect(vault().index('440524198001010013', 'id-number')).not.toBe(a);
    expect(new PiiVault([k1], randomBytes(32), () => undefined).index(ID, 'id-number')).not.toBe(a);
  });

  it('When a value is decrypted, then the audit hook hears who and why first, without the value; no actor means no decrypt', () => {
    const events: PiiAuditEvent[] = [];
    const v = vault([k1], events);
    const sealed = v.encrypt(ID, 'id-number');
    v.decrypt(sealed, 'id-number', who);
    expect(events).toEqual([{ ...who, purpose: 'id-number', keyId: 'k1', atMs: 1_000 }]);
    expect(JSON.stringify(events)).not.toContain(ID);
    expect(() => v.decrypt(sealed, 'id-number', { actor: '', reason: '' })).toThrow(/actor and a reason/);
    const failing = new PiiVault([k1], hmacKey, () => {
      throw new Error('audit store down');
    });
    expect(() => failing.decrypt(sealed, 'id-number', who)).toThrow('audit store down');
  });

  it('When keys are parsed from the setting, then bad shapes are refused with a message that never echoes the key', () => {
    const good = `a:${k1.key.toString('base64')},b:${k2.key.toString('base64')}`;
    expect(parsePiiKeys(good).map((k) => k.id)).toEqual(['a', 'b']);
    expect(() => parsePiiKeys(`a:${randomBytes(16).toString('base64')}`)).toThrow('key a: must be 32 bytes, base64');
    expect(() => parsePiiKeys(k1.key.toString('base64'))).toThrow(/<id>:<base64/);
    expect(() => parsePiiKeys(`a:${k1.key.toString('base64')},a:${k2.key.toString('base64')}`)).toThrow(/distinct/);
    // The refusal's message goes to the operator's terminal and logs: it names the shape, never the key.
    const badId = () => parsePiiKeys(`bad id:${k1.key.toString('base64')}`);
    expect(badId).toThrow(/<id>:<base64/);
    expect(badId).not.toThrow(k1.key.toString('base64'));
  });
});
