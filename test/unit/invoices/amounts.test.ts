import { yuanStringToFen, fenToYuanString, MAX_CAPITALS_FEN, parseTaxRate, rmbInCapitals, splitTaxInclusive, taxRateDecimal, taxRatePercent } from '../../../src/modules/invoices/amounts';

describe('人民币大写', () => {
  it.each([
    [0, '零元整'],
    [1, '壹分'],
    [5, '伍分'],
    [50, '伍角整'],
    [55, '伍角伍分'],
    [100, '壹元整'],
    [105, '壹元零伍分'],
    [150, '壹元伍角整'],
    [1000, '壹拾元整'],
    [1050, '壹拾元伍角整'],
    [10005, '壹佰元零伍分'],
    [10000, '壹佰元整'],
    [20000, '贰佰元整'],
    [18868, '壹佰捌拾捌元陆角捌分'],
    [100500, '壹仟零伍元整'],
    [105000, '壹仟零伍拾元整'],
    [1000500, '壹万零伍元整'],
    [1001000, '壹万零壹拾元整'],
    [1010000, '壹万零壹佰元整'],
    [1100000, '壹万壹仟元整'],
    [10001000, '壹拾万零壹拾元整'],
    [100000000, '壹佰万元整'],
    [100100000, '壹佰万壹仟元整'],
    [10000000000, '壹亿元整'],
    [10000000500, '壹亿零伍元整'],
    [10010000000, '壹亿零壹拾万元整'],
    [12345678912, '壹亿贰仟叁佰肆拾伍万陆仟柒佰捌拾玖元壹角贰分'],
    [MAX_CAPITALS_FEN, '玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分'],
    [-20000, '负贰佰元整'],
  ])('When the amount is %d fen, then it reads %s', (fen, words) => {
    expect(rmbInCapitals(fen)).toBe(words);
  });

  it.each([1.5, Number.NaN, MAX_CAPITALS_FEN + 1])('When the amount is %p, then it is refused as out of range', (fen) => {
    expect(() => rmbInCapitals(fen)).toThrow(RangeError);
  });
});

describe('amounts as 元 strings', () => {
  it.each([[0, '0.00'], [5, '0.05'], [18868, '188.68'], [-1132, '-11.32'], [100000000, '1000000.00']])('When %d fen is printed, then it reads %s', (fen, text) => {
    expect(fenToYuanString(fen)).toBe(text);
  });
});

describe('amounts in 元 as providers send them', () => {
  it.each([['188.68', 18868], ['-11.32', -1132], ['200', 20000], ['200.5', 20050], ['0.05', 5], [' 1.00 ', 100]])('When the provider says %j, then it is %d fen', (text, fen) => {
    expect(yuanStringToFen(text)).toBe(fen);
  });
  it.each(['1.005', '1e3', '', '¥1', '1,000.00', '.5'])('When the provider says %j, then it is refused', (text) => {
    expect(() => yuanStringToFen(text)).toThrow(RangeError);
  });
});

describe('tax rates in basis points', () => {
  it.each([['0.06', 600, '6%'], ['0.01', 100, '1%'], ['0.13', 1300, '13%'], ['0.015', 150, '1.5%'], ['0', 0, '0%']])('When the rate is %s, then it is %d bp and prints %s', (decimal, bp, percent) => {
    expect(parseTaxRate(decimal)).toBe(bp);
    expect(taxRateDecimal(bp)).toBe(decimal);
    expect(taxRatePercent(bp)).toBe(percent);
  });

  it.each(['6%', '0.06.1', '1', '-0.06', '0.00001', ''])('When the rate is %j, then it is refused', (text) => {
    expect(() => parseTaxRate(text)).toThrow(RangeError);
  });

  it.each([-1, 10000, 6.5])('When the basis points are %p, then the split refuses them', (bp) => {
    expect(() => splitTaxInclusive(100, bp)).toThrow(RangeError);
  });
});

describe('tax split of a tax-inclusive price', () => {
  it('When 200 元 is paid at 6%, then it is 188.68 + 11.32', () => {
    expect(splitTaxInclusive(20000, 600)).toEqual({ amountFen: 18868, taxFen: 1132 });
  });

  it('When 200 元 is paid at 1%, then it is 198.02 + 1.98', () => {
    expect(splitTaxInclusive(20000, 100)).toEqual({ amountFen: 19802, taxFen: 198 });
  });

  it('When the exact tax is a half fen, then it is rounded up', () => {
    // With the real rates (1%, 3%, 6%, 9%, 13%) an exact half never occurs; 20% shows the rule: 3 × 0.2 / 1.2 = 0.5 → 1.
    expect(splitTaxInclusive(3, 2000)).toEqual({ amountFen: 2, taxFen: 1 });
  });

  it('When the tax is just under or over half a fen, then it rounds to nearest', () => {
    expect(splitTaxInclusive(1, 600)).toEqual({ amountFen: 1, taxFen: 0 }); // 0.0566 → 0
    expect(splitTaxInclusive(8, 600)).toEqual({ amountFen: 8, taxFen: 0 }); // 0.4528 → 0
    expect(splitTaxInclusive(9, 600)).toEqual({ amountFen: 8, taxFen: 1 }); // 0.5094 → 1
  });

  it('When the amount is beyond 2^53 / rate, then the BigInt path gives the same rule', () => {
    const total = 9_000_000_000_000_000; // 9e15 fen: 2 × total × rate overflows a double's integers
    const { amountFen, taxFen } = splitTaxInclusive(total, 600);
    expect(BigInt(amountFen) + BigInt(taxFen)).toBe(BigInt(total));
    expect(taxFen).toBe(Number((2n * 9_000_000_000_000_000n * 600n + 10600n) / 21200n));
  });

  it('When the price is negative (a red-letter line), then both parts are the negated split', () => {
    expect(splitTaxInclusive(-20000, 600)).toEqual({ amountFen: -18868, taxFen: -1132 });
  });

  it('When the rate is 0, then all of the price is the amount', () => {
    expect(splitTaxInclusive(20000, 0)).toEqual({ amountFen: 20000, taxFen: 0 });
  });

  it.each([600, 100, 300, 1300])('When every price from 0.01 to 10,000 元 is split at %d bp, then amount + tax is the price to the fen and the tax is within 1 fen of amount × rate', (rate) => {
    let worst = 0;
    let failures = 0;
    for (let total = 1; total <= 1_000_000; total += 1) {
      const { amountFen, taxFen } = splitTaxInclusive(total, rate);
      if (amountFen + taxFen !== total || amountFen < 0 || taxFen < 0) failures += 1;
      // |tax − amount × rate| in fen, exact in integers: |tax × 10000 − amount × rate| / 10000
      const gap = Math.abs(taxFen * 10000 - amountFen * rate) / 10000;
      if (gap > worst) worst = gap;
    }
    expect(failures).toBe(0);
    expect(worst).toBeLessThanOrEqual(1);
  });
});
