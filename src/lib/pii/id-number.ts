/**
 * 居民身份证号码 (GB 11643-1999): 6-digit region code, 8-digit birth date, 3-digit sequence, 1 check character
 * (ISO 7064 MOD 11-2). Only the 18-character form is accepted: the 15-digit form was withdrawn in 2013 and the
 * liveness provider checks against the 18-character number anyway.
 */
const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARS = '10X98765432';
/** Province-level codes (first two digits) in use, including 71 台湾, 81 香港, 82 澳门 (居住证 numbers use 83). */
const PROVINCES = new Set([
  '11', '12', '13', '14', '15', '21', '22', '23', '31', '32', '33', '34', '35', '36', '37', '41', '42', '43', '44', '45', '46',
  '50', '51', '52', '53', '54', '61', '62', '63', '64', '65', '71', '81', '82', '83',
]);

export type IdNumberProblem = 'FORMAT' | 'REGION' | 'BIRTH_DATE' | 'CHECK_DIGIT';

export type IdNumberCheck = { ok: true; value: string } | { ok: false; problem: IdNumberProblem; userMessage: string };

const MESSAGES: Record<IdNumberProblem, string> = {
  FORMAT: '身份证号码应为18位，前17位为数字，最后一位为数字或X',
  REGION: '身份证号码的地区码不正确，请核对',
  BIRTH_DATE: '身份证号码中的出生日期不正确，请核对',
  CHECK_DIGIT: '身份证号码校验位不正确，请核对是否输错',
};

/** Trims, removes inner spaces (people type 4401 0119 …) and upper-cases a trailing x. */
export function normalizeIdNumber(input: string): string {
  return input.replace(/[\s\u3000]/g, '').toUpperCase();
}

/** The check character for the first 17 digits. */
export function idNumberCheckChar(first17: string): string {
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * WEIGHTS[i]!;
  return CHECK_CHARS[sum % 11]!;
}

/**
 * Validates format, region, birth date (a real calendar date, not before 1900, not in the future, age under
 * 150 at `nowMs`) and the check character. Returns the normalized number or a Chinese message for the form.
 */
export function checkIdNumber(input: string, nowMs: number = Date.now()): IdNumberCheck {
  const value = normalizeIdNumber(input);
  const fail = (problem: IdNumberProblem): IdNumberCheck => ({ ok: false, problem, userMessage: MESSAGES[problem] });
  if (!/^\d{17}[\dX]$/.test(value)) return fail('FORMAT');
  if (!PROVINCES.has(value.slice(0, 2))) return fail('REGION');
  const y = Number(value.slice(6, 10));
  const m = Number(value.slice(10, 12));
  const d = Number(value.slice(12, 14));
  const birth = Date.UTC(y, m - 1, d);
  const date = new Date(birth);
  // Date.UTC rolls 0231 over into March; a real date survives the round trip.
  if (y < 1900 || date.getUTCFullYear() !== y || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d) return fail('BIRTH_DATE');
  // Compare in China time: someone born "today" in Beijing must not be refused before 08:00 UTC.
  if (birth > nowMs + 8 * 3600_000 || new Date(nowMs).getUTCFullYear() - y > 150) return fail('BIRTH_DATE');
  if (idNumberCheckChar(value) !== value[17]) return fail('CHECK_DIGIT');
  return { ok: true, value };
}

export const isValidIdNumber = (input: string, nowMs?: number) => checkIdNumber(input, nowMs).ok;

/**
 * Shows the first and the last character only (4****************X, always 18 characters wide).
 * Why so little: the first 6 digits give the county and the next 8 the birth date, which together with a
 * name narrow a person down; the first digit alone says only the broad region, and the last character is
 * what people recognise their own number by. The same mask everywhere (pages, operator console, messages),
 * so two partial masks can never be combined into more.
 */
export function maskIdNumber(value: string): string {
  const v = normalizeIdNumber(value);
  if (v.length < 2) return '*'.repeat(Math.max(v.length, 1));
  return `${v[0]}${'*'.repeat(v.length - 2)}${v[v.length - 1]}`;
}

/** Chinese names are shown as 张* / 欧阳** : the surname only (same rule the provider's own console uses). */
export function maskName(name: string): string {
  const chars = [...name.trim()];
  if (chars.length <= 1) return '*';
  return chars[0] + '*'.repeat(chars.length - 1);
}
