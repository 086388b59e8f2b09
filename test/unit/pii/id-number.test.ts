import { checkIdNumber, idNumberCheckChar, isValidIdNumber, maskIdNumber, maskName, normalizeIdNumber } from '../../../src/lib/pii/id-number';

const NOW = Date.UTC(2026, 10, 25, 12);

describe('ID numbers (GB 11643)', () => {
  it('When the first 17 digits are known vectors, then the check character is the standard one', () => {
    // 11010519491231002X is the standard's own example; the others were computed by hand (Σ aᵢ·Wᵢ mod 11).
    expect(idNumberCheckChar('11010519491231002')).toBe('X');
    expect(idNumberCheckChar('44052419800101001')).toBe('3');
    expect(idNumberCheckChar('11010119900307001')).toBe('1');
    for (const id of ['11010519491231002X', '440524198001010013', '110101199003070011']) {
      expect(idNumberCheckChar(id.slice(0, 17))).toBe(id[17]);
    }
  });

  it('When a valid number is typed with spaces and a lower-case x, then it is accepted and normalized', () => {
    expect(checkIdNumber(' 110105 19491231 002x ', NOW)).toEqual({ ok: true, value: '11010519491231002X' });
    expect(normalizeIdNumber('4405 2419 8001 0100 13')).toBe('440524198001010013');
  });

  it.each([
    ['11010519491231002', 'FORMAT'],
    ['1101051949123100XX', 'FORMAT'],
    ['110105194912310021', 'CHECK_DIGIT'],
    ['990105194912310028', 'REGION'],
    ['110105194902300021', 'BIRTH_DATE'],
    ['110105189912310021', 'BIRTH_DATE'],
    ['110105203001010021', 'BIRTH_DATE'],
  ])('When the number is %s, then it is refused for %s with a Chinese message', (input, problem) => {
    const r = checkIdNumber(input, NOW);
    expect(r).toMatchObject({ ok: false, problem });
    if (!r.ok) expect(r.userMessage).toMatch(/身份证号码/);
  });

  it('When one digit is changed in a valid number, then the check digit catches it', () => {
    const valid = '440524198001010013';
    let caught = 0;
    for (let i = 14; i < 17; i++) {
      const d = (Number(valid[i]) + 1) % 10;
      if (!isValidIdNumber(valid.slice(0, i) + d + valid.slice(i + 1), NOW)) caught++;
    }
    expect(caught).toBe(3);
  });

  it('When a number is masked, then only the first and last characters show and the width stays 18', () => {
    expect(maskIdNumber('11010519491231002x')).toBe('1****************X');
    expect(maskIdNumber('11010519491231002X')).toHaveLength(18);
    expect(maskName('张三')).toBe('张*');
    expect(maskName('欧阳娜娜')).toBe('欧***');
  });
});
