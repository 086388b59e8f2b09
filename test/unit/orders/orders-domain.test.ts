import { type AppError } from '../../../src/lib/errors';
import { type Random, cryptoRandom } from '../../../src/lib/clock';
import { newOrderNumber, ORDER_NO_PATTERN, OUT_TRADE_NO_PATTERN } from '../../../src/modules/orders/order-number';
import { allowedYearsOf, lineAmountFen, totalFen } from '../../../src/modules/orders/price-rules';
import { canTransition, isOpen, ORDER_STATES, type OrderState, TRANSITIONS } from '../../../src/modules/orders/states';

/** The order domain without I/O: numbers, amounts, the state table. */
function userMessageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as AppError).userMessage;
  }
  throw new Error('expected a refusal');
}

const seedRule = { project: '梅州市住房公积金', certType: '机构证书', unitPriceFen: 20000, allowedYears: '1,2,3,4,5' };

describe('order numbers', () => {
  it('When many numbers are made, then each is a valid out_trade_no with the Beijing date and none repeats', () => {
    // 2026-11-25 17:30 UTC is already 2026-11-26 in Beijing.
    const at = new Date('2026-11-25T17:30:00Z');
    const numbers = Array.from({ length: 5000 }, () => newOrderNumber(cryptoRandom, at));
    for (const n of numbers) {
      expect(n).toMatch(ORDER_NO_PATTERN);
      expect(n).toMatch(OUT_TRADE_NO_PATTERN);
      expect(n.startsWith('R20261126')).toBe(true);
      expect(n).toHaveLength(25);
    }
    expect(new Set(numbers).size).toBe(numbers.length);
  });

  it('When two numbers are made one after another, then the random part is not sequential (it comes from the injected randomness)', () => {
    let calls = 0;
    const counting: Random = { bytes: (n) => Buffer.alloc(n), int: (max) => (calls++ * 7) % max };
    const a = newOrderNumber(counting, new Date('2026-01-01T00:00:00Z'));
    expect(a).toMatch(ORDER_NO_PATTERN);
    expect(calls).toBe(16);
    const b = newOrderNumber(cryptoRandom, new Date('2026-01-01T00:00:00Z'));
    const c = newOrderNumber(cryptoRandom, new Date('2026-01-01T00:00:00Z'));
    expect(b.slice(9)).not.toBe(c.slice(9));
  });
});

describe('amounts', () => {
  it.each([[1, 20000], [2, 40000], [3, 60000], [5, 100000]])('When %i years are ordered at the seed price, then the line is %i fen', (years, fen) => {
    expect(lineAmountFen(seedRule, years)).toBe(fen);
  });

  it.each([0, 6, 1.5, -1, Number.NaN])('When %p years are asked, then it is refused', (years) => {
    expect(userMessageOf(() => lineAmountFen(seedRule, years))).toMatch(/续期年限只能选择 1、2、3、4、5 年/);
  });

  it('When a rule sells only some terms, then only those are allowed and junk in the list is ignored', () => {
    expect(allowedYearsOf({ allowedYears: '3, 1,9,x,1' })).toEqual([1, 3]);
    expect(userMessageOf(() => lineAmountFen({ ...seedRule, allowedYears: '1,3' }, 2))).toMatch(/1、3/);
  });

  it('When a rule has a zero or fractional price, then no amount is computed', () => {
    expect(userMessageOf(() => lineAmountFen({ ...seedRule, unitPriceFen: 0 }, 1))).toMatch(/暂不支持在线续期/);
    expect(userMessageOf(() => lineAmountFen({ ...seedRule, unitPriceFen: 199.5 }, 1))).toMatch(/暂不支持在线续期/);
  });

  it('When lines are summed, then the total is exact in fen, and an unsafe total is refused', () => {
    expect(totalFen([20000, 40000, 100000])).toBe(160000);
    expect(userMessageOf(() => totalFen([Number.MAX_SAFE_INTEGER, 1]))).toMatch(/订单金额异常/);
  });
});

describe('state machine', () => {
  const allowed: Array<[OrderState, OrderState]> = [
    ['PENDING_PAYMENT', 'PAID'], ['PENDING_PAYMENT', 'CLOSED'], ['PAID', 'FULFILLED'], ['PAID', 'REFUNDING'], ['REFUNDING', 'REFUNDED'],
  ];

  it('When every pair of states is checked, then exactly the five documented transitions are allowed', () => {
    const found: Array<[OrderState, OrderState]> = [];
    for (const from of ORDER_STATES) for (const to of ORDER_STATES) if (canTransition(from, to)) found.push([from, to]);
    expect(found).toEqual(allowed);
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...ORDER_STATES].sort());
  });

  it('When states are asked whether they hold the certificate, then only PENDING_PAYMENT and PAID do', () => {
    expect(ORDER_STATES.filter(isOpen)).toEqual(['PENDING_PAYMENT', 'PAID']);
  });
});
