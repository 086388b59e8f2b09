import { randomBytes } from 'node:crypto';
import { type PiiAuditEvent, PiiVault, PiiVaultError } from '../../../src/lib/pii/vault';

const k1 = { id: 'k1', key: randomBytes(32) };
const k2 = { id: 'key-2', key: randomBytes(32) };
const hmacKey = randomBytes(32);
const who = { actor: 'operator:test', reason: 'handler-documents-review', subject: 'handler_document:1' };
/** A JPEG's start and a name: neither may appear in what is stored. */
const IMAGE = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from('JFIF 张三 11010519491231002X'), randomBytes(4096)]);

const vault = (keys = [k1], audit: PiiAuditEvent[] = []) => new PiiVault(keys, hmacKey, (e) => audit.push(e), () => 2_000);

describe('PII vault, binary values (uploaded documents)', () => {
  it('When bytes are sealed and opened, then they round-trip, the output differs each time and holds no plaintext, and the read is audited', () => {
    const events: PiiAuditEvent[] = [];
    const v = vault([k1], events);
    const a = v.encryptBytes(IMAGE, 'handler-document');
    const b = v.encryptBytes(IMAGE, 'handler-document');
    expect(a.equals(b)).toBe(false);
    expect(a.length).toBe(IMAGE.length + 2 + 2 + 12 + 16);
    expect(a.includes(Buffer.from([0xff, 0xd8, 0xff]))).toBe(false);
    expect(a.includes(Buffer.from('张三'))).toBe(false);
    expect(v.decryptBytes(a, 'handler-document', who).equals(IMAGE)).toBe(true);
    expect(events).toEqual([{ ...who, purpose: 'handler-document', keyId: 'k1', atMs: 2_000 }]);
  });

  it('When a sealed document is changed, opened for another purpose, or is a sealed string, then it is refused', () => {
    const v = vault();
    const sealed = v.encryptBytes(IMAGE, 'handler-document');
    for (const i of [5, 10, 20, sealed.length - 1]) {
      const forged = Buffer.from(sealed);
      forged[i]! ^= 1;
      expect(() => v.decryptBytes(forged, 'handler-document', who)).toThrow(PiiVaultError);
    }
    expect(() => v.decryptBytes(sealed, 'other', who)).toThrow(/failed authentication/);
    expect(() => v.decryptBytes(Buffer.from(v.encrypt('x', 'handler-document')), 'handler-document', who)).toThrow(/not a sealed value/);
    expect(() => v.decryptBytes(Buffer.alloc(3), 'handler-document', who)).toThrow(/not a sealed value/);
    expect(() => v.decryptBytes(sealed, 'handler-document', { actor: '', reason: '' })).toThrow(/actor and a reason/);
  });

  it('When the key is rotated, then documents sealed under the old key still open by their key id', () => {
    const old = vault([k1]).encryptBytes(IMAGE, 'handler-document');
    const rotated = vault([k2, k1]);
    expect(rotated.decryptBytes(old, 'handler-document', who).equals(IMAGE)).toBe(true);
    expect(rotated.encryptBytes(IMAGE, 'handler-document').subarray(2, 7).toString('ascii')).toBe('key-2');
    expect(() => vault([k2]).decryptBytes(old, 'handler-document', who)).toThrow(/unknown key id k1/);
  });
});
