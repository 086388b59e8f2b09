/**
 * 纳税人识别号 (buyer tax ID) checks for the invoice form.
 *
 * Since 2015 a company's tax ID is its 统一社会信用代码 (GB 32100-2015): 18 characters from a 31-symbol alphabet
 * (digits and capitals without I, O, Z, S, V), the last one a check character over the first 17. Older tax IDs are
 * still printed on some titles and accepted by the tax bureau: 15 characters (the old 税务登记证号: 6-digit area
 * code + 9-character 组织机构代码), 17 and 20 characters (个体工商户: 15/18-digit ID card number + 2-digit sequence).
 * Those have no check character we can verify, so they are accepted by format only.
 */

/** The GB 32100-2015 alphabet; a character's value is its index. */
export const USCC_ALPHABET = '0123456789ABCDEFGHJKLMNPQRTUWXY';
const WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28] as const;

/** The check character for the first 17 characters of a USCC, or null when one of them is outside the alphabet. */
export function usccCheckCharacter(first17: string): string | null {
  if (first17.length !== 17) return null;
  let sum = 0;
  for (let i = 0; i < 17; i += 1) {
    const value = USCC_ALPHABET.indexOf(first17[i]!);
    if (value < 0) return null;
    sum += value * WEIGHTS[i]!;
  }
  const check = 31 - (sum % 31);
  return USCC_ALPHABET[check === 31 ? 0 : check]!;
}

/** True when `code` is an 18-character USCC whose last character is the right check character. */
export function isValidUscc(code: string): boolean {
  if (!/^[0-9A-HJ-NPQRTUWXY]{18}$/.test(code)) return false;
  return usccCheckCharacter(code.slice(0, 17)) === code[17];
}

export type TaxIdVerdict =
  | { ok: true; kind: 'uscc' | 'legacy-15' | 'legacy-17' | 'legacy-20'; value: string }
  | { ok: false; reason: 'format' | 'check-digit' };

/**
 * Older IDs by format: 15 = 6-digit area code + 组织机构代码 (8 alphanumerics + 1 check, which may be X);
 * 17/20 = a 15/18-character ID card number (the 18-digit one may end in X) followed by two digits.
 */
const LEGACY = {
  15: /^\d{6}[0-9A-Z]{8}[0-9X]$/,
  17: /^\d{15}\d{2}$/,
  20: /^\d{17}[0-9X]\d{2}$/,
} as const;

/**
 * Classifies a tax ID as typed by a person: surrounding spaces are dropped and letters upper-cased (people copy
 * them from business licences in lower case), nothing else is changed.
 */
export function checkTaxId(input: string): TaxIdVerdict {
  const value = input.trim().toUpperCase();
  if (value.length === 18) {
    if (!/^[0-9A-HJ-NPQRTUWXY]{18}$/.test(value)) return { ok: false, reason: 'format' };
    return isValidUscc(value) ? { ok: true, kind: 'uscc', value } : { ok: false, reason: 'check-digit' };
  }
  if (value.length === 15 && LEGACY[15].test(value)) return { ok: true, kind: 'legacy-15', value };
  if (value.length === 17 && LEGACY[17].test(value)) return { ok: true, kind: 'legacy-17', value };
  if (value.length === 20 && LEGACY[20].test(value)) return { ok: true, kind: 'legacy-20', value };
  return { ok: false, reason: 'format' };
}
