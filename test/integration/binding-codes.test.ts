import { join } from 'node:path';
import { type DataSource } from 'typeorm';
import { buildConfig, type AppConfig } from '../../src/config';
import { generateSandboxSecrets } from '../../src/config/sandbox-secrets';
import { parseSettings } from '../../src/config/settings';
import { cryptoRandom } from '../../src/lib/clock';
import {
  BINDING_CODE_ALPHABET, BINDING_CODE_LENGTH, BindingCodeService, looksLikeBindingCode, MAX_WRONG_MEDIA_TRIES, normaliseBindingCode,
} from '../../src/modules/binding/codes';
import { BindingCodeEntity } from '../../src/modules/binding/entities';
import { backend, TestClock } from '../helpers/harness';
import { useTestApp } from '../helpers/use-test-app';

/** BindingCodeService on the test backend (MariaDB, or the embedded SQLite; the real migrations), with a clock we move. */
let db: DataSource;
let config: AppConfig;
const clock = new TestClock(Date.parse('2026-11-25T04:00:00Z'));
let certSeq = 1000;

const t = useTestApp({ clock, startJobs: false });
beforeAll(() => {
  ({ db } = t.instance.deps);
  ({ config } = t.instance);
});

const service = (cfg: AppConfig = config) => new BindingCodeService({ db, clock, random: cryptoRandom, config: cfg });
const rowsOf = (certificateId: number) => db.getRepository(BindingCodeEntity).find({ where: { certificateId } });

describe(`binding codes (${backend})`, () => {
  it('When codes are issued, then each is 8 characters from the unambiguous alphabet (no 0, O, 1, I, L)', async () => {
    expect(BINDING_CODE_ALPHABET).not.toMatch(/[01OIL]/);
    expect(BINDING_CODE_ALPHABET).toMatch(/^[2-9A-Z]+$/);
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const { code, qrToken } = await service().issue(++certSeq, { sandbox: false });
      expect(code).toHaveLength(BINDING_CODE_LENGTH);
      expect([...code].every((c) => BINDING_CODE_ALPHABET.includes(c))).toBe(true);
      // 32 random bytes, base64url without padding.
      expect(qrToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
      seen.add(code);
    }
    expect(seen.size).toBe(40);
  });

  it('When a code is typed with spaces, dashes or lower case, then it is normalised to the issued form', () => {
    expect(normaliseBindingCode('  abcd-efgh ')).toBe('ABCDEFGH');
    expect(normaliseBindingCode('ab cd\tef-gh')).toBe('ABCDEFGH');
    expect(looksLikeBindingCode('ABCDEFGH')).toBe(true);
    expect(looksLikeBindingCode('ABCDEFG0')).toBe(false);
    expect(looksLikeBindingCode('ABCDEFG')).toBe(false);
  });

  it('When a code is stored, then the row holds only HMACs of the code and the QR token, never the plaintext', async () => {
    const certificateId = ++certSeq;
    const { code, qrToken } = await service().issue(certificateId, { sandbox: true });
    const [row] = await rowsOf(certificateId);
    const raw = JSON.stringify(await db.query('SELECT * FROM binding_codes WHERE certificate_id = ?', [certificateId]));
    expect(raw).not.toContain(code);
    expect(raw).not.toContain(qrToken);
    expect(row.codeHmac).toMatch(/^[0-9a-f]{64}$/);
    expect(row.qrTokenHmac).toMatch(/^[0-9a-f]{64}$/);
    expect(row.codeHmac).toBe(service().hmac(code));
    expect(row.sandbox).toBe(true);
    expect((await service().findByCode(db.manager, code.toLowerCase()))?.id).toBe(row.id);
  });

  it('When SESSION_SECRET differs, then the same code has another HMAC (the key is derived from it, not fixed)', () => {
    const other = buildConfig(parseSettings({ APP_ENV: 'test', DATA_DIR: join(__dirname, 'unused') }), generateSandboxSecrets());
    expect(other.sessionSecret).not.toBe(config.sessionSecret);
    expect(service(other).hmac('ABCDEFGH')).not.toBe(service().hmac('ABCDEFGH'));
  });

  it('When a code is issued, then it expires 10 minutes later', async () => {
    const certificateId = ++certSeq;
    const issued = await service().issue(certificateId, { sandbox: false });
    expect(issued.expiresAt.getTime()).toBe(clock.nowMs() + 10 * 60_000);
    const [row] = await rowsOf(certificateId);
    expect(row.expiresAt.getTime()).toBe(issued.expiresAt.getTime());
    expect(row.usedAt).toBeNull();
    expect(row.failedAttempts).toBe(0);
  });

  it('When a second code is issued for a certificate, then it replaces the first (one row, the old code unknown)', async () => {
    const certificateId = ++certSeq;
    const first = await service().issue(certificateId, { sandbox: false });
    const second = await service().issue(certificateId, { sandbox: false });
    expect(second.code).not.toBe(first.code);
    const rows = await rowsOf(certificateId);
    expect(rows).toHaveLength(1);
    expect(await service().findByCode(db.manager, first.code)).toBeNull();
    expect((await service().findByCode(db.manager, second.code))?.id).toBe(rows[0].id);
    expect(await service().spendQrToken(first.qrToken)).toBeNull();
  });

  it('When two codes are asked for one certificate at once, then exactly one row remains', async () => {
    const certificateId = ++certSeq;
    const both = await Promise.all([service().issue(certificateId, { sandbox: false }), service().issue(certificateId, { sandbox: false })]);
    const rows = await rowsOf(certificateId);
    expect(rows).toHaveLength(1);
    expect(both.map((b) => service().hmac(b.code))).toContain(rows[0].codeHmac);
  });

  it('When the QR token is spent, then the first scan gets the row and a second gets nothing', async () => {
    const certificateId = ++certSeq;
    const { qrToken } = await service().issue(certificateId, { sandbox: false });
    expect(await service().spendQrToken('not-a-token')).toBeNull();
    expect((await service().spendQrToken(qrToken))?.certificateId).toBe(certificateId);
    expect(await service().spendQrToken(qrToken)).toBeNull();
  });

  it('When the QR token is scanned after 10 minutes, then it is refused', async () => {
    const { qrToken } = await service().issue(++certSeq, { sandbox: false });
    clock.advance(10 * 60_000);
    try {
      expect(await service().spendQrToken(qrToken)).toBeNull();
    } finally {
      clock.advance(-10 * 60_000);
    }
  });

  it('When a code is claimed, then only the first claim wins, and expired or burnt codes cannot be claimed', async () => {
    const now = new Date(clock.nowMs());
    const fresh = await service().issue(++certSeq, { sandbox: false });
    const row = (await service().findByCode(db.manager, fresh.code))!;
    expect(await service().claim(db.manager, row.id, 'oFirst', now)).toBe(true);
    expect(await service().claim(db.manager, row.id, 'oSecond', now)).toBe(false);
    expect((await service().findById(db.manager, row.id))?.usedByOpenid).toBe('oFirst');

    const late = (await service().findByCode(db.manager, (await service().issue(++certSeq, { sandbox: false })).code))!;
    expect(await service().claim(db.manager, late.id, 'oLate', new Date(now.getTime() + 10 * 60_000))).toBe(false);

    const burnt = (await service().findByCode(db.manager, (await service().issue(++certSeq, { sandbox: false })).code))!;
    const counts: number[] = [];
    for (let i = 0; i < MAX_WRONG_MEDIA_TRIES; i++) counts.push(await service().recordWrongMediaDigits(db.manager, burnt.id));
    expect(counts).toEqual([1, 2, 3, 4, 5]);
    expect(await service().claim(db.manager, burnt.id, 'oBurnt', now)).toBe(false);
  });
});
