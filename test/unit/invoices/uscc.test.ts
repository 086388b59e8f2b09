import { checkTaxId, isValidUscc, usccCheckCharacter } from '../../../src/modules/invoices/uscc';

/** Codes printed on public business licences (companies' registry entries), so the algorithm is checked against reality. */
const PUBLISHED = [
  '91440300708461136T', // 深圳市腾讯计算机系统有限公司
  '914403001922038216', // 华为技术有限公司
  '91330100799655058B', // 阿里巴巴（中国）有限公司
  '91110108551385082Q', // 小米科技有限责任公司
];
/** Computed here, one per registering authority / entity kind, including check values 0 and a letter. */
const COMPUTED = ['91110000600037341L', '91310000MA1FL4T1X2', '121000004000000629', '52440300MJL15478XY', '92330106MA2CCGGK0A'];

describe('统一社会信用代码 (GB 32100-2015)', () => {
  it.each([...PUBLISHED, ...COMPUTED])('When the code is %s, then its check character is accepted', (code) => {
    expect(isValidUscc(code)).toBe(true);
    expect(checkTaxId(code)).toEqual({ ok: true, kind: 'uscc', value: code });
  });

  it('When Σ mod 31 is 0, then the check character is 0 (31 → 0), not out of range', () => {
    // Find a prefix whose weighted sum is a multiple of 31 by adjusting the last digit: brute force the 17th char.
    const base = '9111000060003734';
    const hit = [...'0123456789ABCDEFGHJKLMNPQRTUWXY'].map((c) => base + c).find((p) => usccCheckCharacter(p) === '0');
    expect(hit).toBeDefined();
    expect(isValidUscc(`${hit}0`)).toBe(true);
  });

  it.each(['91440300708461136A', '914403001922038217', '91330100799655058C'])('When the check character of %s is wrong, then it is refused as a check-digit error', (code) => {
    expect(isValidUscc(code)).toBe(false);
    expect(checkTaxId(code)).toEqual({ ok: false, reason: 'check-digit' });
  });

  it('When two characters are swapped, then the check character catches it', () => {
    expect(isValidUscc('94140300708461136T')).toBe(false);
  });

  it.each([
    ['914403007084611I6T', 'I is not in the alphabet'],
    ['91440300708461136O', 'O is not in the alphabet'],
    ['9144030070846113ZT', 'Z is not in the alphabet'],
    ['91440300-08461136T', 'punctuation'],
  ])('When the code is %s (%s), then it is refused as a format error', (code) => {
    expect(checkTaxId(code)).toEqual({ ok: false, reason: 'format' });
  });

  it('When the code is typed in lower case with spaces around it, then it is normalised and accepted', () => {
    expect(checkTaxId(' 91440300708461136t ')).toEqual({ ok: true, kind: 'uscc', value: '91440300708461136T' });
  });

  it('When the prefix is not 17 characters or holds a foreign character, then no check character is computed', () => {
    expect(usccCheckCharacter('9144')).toBeNull();
    expect(usccCheckCharacter('91440300708461I36')).toBeNull();
  });
});

describe('older tax IDs (by format only)', () => {
  it.each([
    ['44030071526726X', 'legacy-15'], // 6-digit area + 组织机构代码 ending in X
    ['110108633687421', 'legacy-15'],
    ['43010219800101123', 'legacy-17'], // 15-digit ID card + 2
    ['4301021980010112', undefined],
    ['4301021980010112X01', undefined],
    ['43010219800101123X01', 'legacy-20'], // 18-character ID card ending in X + 2
    ['43010219800101123401', 'legacy-20'],
  ])('When the ID is %s, then it is classified as %s', (value, kind) => {
    const verdict = checkTaxId(value);
    if (kind) expect(verdict).toEqual({ ok: true, kind, value });
    else expect(verdict).toEqual({ ok: false, reason: 'format' });
  });

  it.each(['', '1234567890', '44030X715267261', '4301021980010112A', '430102198001011234XX', '9144030070846113'])('When the ID is %j, then it is refused as a format error', (value) => {
    expect(checkTaxId(value)).toEqual({ ok: false, reason: 'format' });
  });
});
