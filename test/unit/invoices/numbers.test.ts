import { ACCEPTANCE_NO, attemptKey, newAcceptanceNo } from '../../../src/modules/invoices/numbers';
import { ATTEMPT_KEY } from '../../../src/providers/einvoice/types';
import { cryptoRandom } from '../../../src/lib/clock';

const lateEveningUtc = { nowMs: () => Date.parse('2025-12-03T17:30:00Z') }; // already 12-04 in Beijing

describe('受理单号 and attempt keys', () => {
  it('When an acceptance number is drawn, then it has FP, the Beijing date and 8 characters without look-alikes', () => {
    const no = newAcceptanceNo(lateEveningUtc, cryptoRandom);
    expect(no).toMatch(/^FP251204[2-9A-HJKMNP-Z]{8}$/);
    expect(no).toMatch(ACCEPTANCE_NO);
  });

  it('When 10,000 are drawn, then none repeats', () => {
    const seen = new Set(Array.from({ length: 10_000 }, () => newAcceptanceNo(lateEveningUtc, cryptoRandom)));
    expect(seen.size).toBe(10_000);
  });

  it('When attempts 1 and 12 are keyed, then each is the acceptance number + two digits, usable as a provider order number', () => {
    expect(attemptKey('FP251204K7M2Q9XA', 1)).toBe('FP251204K7M2Q9XA01');
    expect(attemptKey('FP251204K7M2Q9XA', 12)).toBe('FP251204K7M2Q9XA12');
    expect(attemptKey('FP251204K7M2Q9XA', 99)).toMatch(ATTEMPT_KEY);
  });

  it.each([0, 100, 1.5])('When the attempt is %p, then it is refused', (attempt) => {
    expect(() => attemptKey('FP251204K7M2Q9XA', attempt)).toThrow(RangeError);
  });

  it('When the acceptance number is not ours, then no key is made from it', () => {
    expect(() => attemptKey('FP251204K7M2Q9X', 1)).toThrow(RangeError);
    expect(() => attemptKey('FP251204K7M2Q9XO', 1)).toThrow(RangeError);
  });
});
