/**
 * Text from bank statements as operators and banks write it: full-width or half-width characters, Chinese or
 * ASCII brackets, stray spaces. Compared after one normalisation so 「梅州市某（集团）有限公司」 and
 * 「梅州市某(集团)有限公司 」 are the same payer, and nothing else is.
 */
export function normaliseText(s: string): string {
  return s
    .normalize('NFKC') // full-width letters, digits and （） become half-width
    .replace(/[【〔［]/g, '[')
    .replace(/[】〕］]/g, ']')
    .replace(/\s+/g, '')
    .toUpperCase();
}

/** Words that mark a fiscal payer (财政直接支付, 国库集中支付, 零余额账户): not accepted for these orders. */
const FISCAL_MARKERS = ['财政', '国库', '零余额'];

export function looksFiscal(...fields: Array<string | undefined>): boolean {
  return fields.some((f) => f !== undefined && FISCAL_MARKERS.some((m) => normaliseText(f).includes(m)));
}

/**
 * Yuan as printed on a statement ("1,200.00", "400", "400.5") to integer fen, without floating point:
 * money is never a float here. Returns null for anything else (negative, three decimals, letters).
 */
export function yuanToFen(text: string): number | null {
  const t = text.normalize('NFKC').replace(/[,\s]/g, '').replace(/^[¥￥]/, '');
  const m = /^(\d{1,12})(?:\.(\d{1,2}))?$/.exec(t);
  if (!m) return null;
  return Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0'));
}
