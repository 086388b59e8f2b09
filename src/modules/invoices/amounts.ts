/**
 * Money on an invoice: 人民币大写 (the amount in Chinese capitals printed beside 价税合计) and the split of a
 * tax-inclusive price into 金额 (excluding tax) and 税额. All amounts are integer fen, as everywhere in this code.
 */

const DIGITS = ['零', '壹', '贰', '叁', '肆', '伍', '陆', '柒', '捌', '玖'] as const;
const IN_GROUP = ['仟', '佰', '拾', ''] as const;
/** Units of successive four-digit groups, lowest first: 个, 万, 亿, 万亿. */
const GROUP_UNITS = ['', '万', '亿', '万'] as const;

/** 1..9999 in capitals; inner zeros collapse to one 零, trailing zeros are not written (1050 → 壹仟零伍拾). */
function groupInCapitals(group: number): string {
  const digits = String(group).padStart(4, '0');
  let out = '';
  let pendingZero = false;
  for (let i = 0; i < 4; i += 1) {
    const d = Number(digits[i]);
    if (d === 0) {
      if (out) pendingZero = true;
      continue;
    }
    if (pendingZero) out += '零';
    pendingZero = false;
    out += DIGITS[d] + IN_GROUP[i]!;
  }
  return out;
}

/** Whole yuan (> 0) in capitals: 壹万零伍, 壹拾万零壹拾, 壹亿零伍, 壹佰万. */
function yuanInCapitals(yuan: number): string {
  const groups: number[] = [];
  for (let rest = yuan; rest > 0; rest = Math.floor(rest / 10000)) groups.push(rest % 10000);
  let out = '';
  let pendingZero = false;
  for (let i = groups.length - 1; i >= 0; i -= 1) {
    const group = groups[i]!;
    if (group === 0) {
      if (out) pendingZero = true;
      continue;
    }
    // A gap before this group (a skipped group, or a group under 1000 after a higher one) is read as one 零.
    if (out && (pendingZero || group < 1000)) out += '零';
    pendingZero = false;
    out += groupInCapitals(group) + GROUP_UNITS[i]!;
  }
  return out;
}

/** The largest amount we write: under 1 万亿元, far above any invoice and safely inside a double. */
export const MAX_CAPITALS_FEN = 1_000_000_000_000 * 100 - 1;

/**
 * 人民币大写 of an amount in fen, as the 支付结算办法 writes it: 元 then 角 and 分; 整 after 元 or 角 when there are no
 * 分; a zero between 元 and 分 is read as 零 (壹佰元零伍分); 0 is 零元整; amounts under one yuan start at 角 or 分
 * (伍角整, 伍分). A negative amount (a red-letter invoice) is written with a leading 负.
 */
export function rmbInCapitals(fen: number): string {
  if (!Number.isSafeInteger(fen) || Math.abs(fen) > MAX_CAPITALS_FEN) throw new RangeError(`amount out of range: ${fen} fen`);
  if (fen < 0) return `负${rmbInCapitals(-fen)}`;
  const yuan = Math.floor(fen / 100);
  const jiao = Math.floor(fen / 10) % 10;
  const cents = fen % 10;
  if (fen === 0) return '零元整';
  let out = yuan > 0 ? `${yuanInCapitals(yuan)}元` : '';
  if (jiao > 0) out += `${DIGITS[jiao]}角`;
  else if (yuan > 0 && cents > 0) out += '零';
  out += cents > 0 ? `${DIGITS[cents]}分` : '整';
  return out;
}

/** Fen as 元 with two decimals ("188.68", "-11.32"), as printed and as the provider APIs want it. */
export function fenToYuanString(fen: number): string {
  if (!Number.isSafeInteger(fen)) throw new RangeError(`not an integer amount: ${fen}`);
  const sign = fen < 0 ? '-' : '';
  const abs = Math.abs(fen);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

/**
 * A VAT rate in basis points (600 = 6%), so no float ever touches money. Rates in use: 600 (一般纳税人, 现代服务),
 * 100 (小规模纳税人 reduced rate), 300 (小规模 standard), 1300, 900, 0.
 */
export type TaxRateBp = number;

/** "0.06" / "0.13" / "0" → basis points; refuses anything that is not a plain rate under 100%. */
export function parseTaxRate(decimal: string): TaxRateBp {
  const match = /^0(?:\.(\d{1,4}))?$/.exec(decimal.trim());
  if (!match) throw new RangeError(`not a tax rate: ${JSON.stringify(decimal)}`);
  return Number((match[1] ?? '').padEnd(4, '0'));
}

/** Basis points → the decimal string the provider expects ("0.06", "0.01", "0"). */
export function taxRateDecimal(rate: TaxRateBp): string {
  assertRate(rate);
  if (rate === 0) return '0';
  return `0.${String(rate).padStart(4, '0').replace(/0+$/, '')}`;
}

/** Basis points → the percentage printed on the invoice ("6%", "1.5%"). */
export function taxRatePercent(rate: TaxRateBp): string {
  assertRate(rate);
  return `${(rate / 100).toString()}%`;
}

function assertRate(rate: TaxRateBp): void {
  if (!Number.isInteger(rate) || rate < 0 || rate >= 10000) throw new RangeError(`tax rate out of range: ${rate} bp`);
}

export interface TaxSplit {
  /** 金额: the price excluding tax, in fen. */
  amountFen: number;
  /** 税额, in fen. */
  taxFen: number;
}

/**
 * Splits a tax-inclusive total into 金额 + 税额 with tax = round_half_up(total × rate / (1 + rate)) and
 * amount = total − tax.
 *
 * Why this way round: the buyer paid `total`, and the invoice's 价税合计 must show exactly that, so the two parts
 * are derived from one rounding and always sum to the total (rounding both parts independently can be a fen off).
 * The tax is the part rounded because the tax bureau checks 税额 against 金额 × 税率 (to within 0.06 元 per line,
 * as the providers document it); rounding the tax once, half-up (the bureau's 四舍五入), keeps that difference
 * within 1 fen for every price (the unit test checks every price from 0.01 to 10,000 元). Integer
 * arithmetic (BigInt past 2^53), so no binary-float error can flip a half.
 */
export function splitTaxInclusive(totalFen: number, rate: TaxRateBp): TaxSplit {
  if (!Number.isSafeInteger(totalFen)) throw new RangeError(`not an integer amount: ${totalFen}`);
  assertRate(rate);
  const sign = totalFen < 0 ? -1 : 1;
  const total = Math.abs(totalFen);
  const denominator = 10000 + rate;
  let tax: number;
  if (Number.isSafeInteger(2 * total * rate + denominator)) {
    // round half up of total × rate / denominator, exact because every operand is a safe integer
    tax = Math.floor((2 * total * rate + denominator) / (2 * denominator));
  } else {
    const big = (2n * BigInt(total) * BigInt(rate) + BigInt(denominator)) / (2n * BigInt(denominator));
    tax = Number(big);
  }
  return { amountFen: sign * (total - tax) || 0, taxFen: sign * tax || 0 };
}

/** "188.68" / "-11.32" / "200" (as providers answer) → fen; anything else (3 decimals, exponent, blank) is refused. */
export function yuanStringToFen(text: string): number {
  const match = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(text.trim());
  if (!match) throw new RangeError(`not an amount in yuan: ${JSON.stringify(text)}`);
  const fen = Number(match[2]) * 100 + Number((match[3] ?? '').padEnd(2, '0'));
  if (!Number.isSafeInteger(fen)) throw new RangeError(`amount out of range: ${text}`);
  return match[1] ? -fen : fen;
}
