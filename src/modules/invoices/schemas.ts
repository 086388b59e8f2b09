import { z } from 'zod';
import { checkTaxId } from './uscc';

/**
 * The 我的发票 form (issue 11): what the buyer types before an invoice request is made. Each refusal is a Chinese
 * sentence that says what to fix, attached to its field so the page can show it under that input. Limits follow
 * the 数电票 fields as the providers accept them: 购方名称 ≤ 100, 地址 + 电话 ≤ 100, "开户行 账号" ≤ 100.
 */

export const BUYER_KINDS = ['organisation', 'individual'] as const;
export type BuyerKind = (typeof BUYER_KINDS)[number];

export const INVOICE_FORM_MESSAGES = {
  buyerKind: '请选择抬头类型：单位或个人',
  titleRequired: '请填写发票抬头',
  titleTooLong: '发票抬头不能超过 100 个字',
  titleBadCharacters: '发票抬头含有无法打印的字符，请删除后重试',
  taxIdRequired: '单位抬头请填写税号（统一社会信用代码）',
  taxIdFormat: '税号格式不正确：应为 18 位统一社会信用代码，或 15、17、20 位的旧税号',
  taxIdCheckDigit: '税号校验位不符，请核对统一社会信用代码是否有字符抄错',
  bankNameTooLong: '开户银行不能超过 100 个字',
  bankAccount: '银行账号应为 8 到 30 位数字',
  bankTooLong: '开户银行和银行账号合计不能超过 100 个字',
  addressTooLong: '地址不能超过 100 个字',
  phone: '电话格式不正确，请填写区号和号码，如 0571-88888888',
  addressAndPhoneTooLong: '地址和电话合计不能超过 100 个字',
  emailRequired: '请填写接收发票的邮箱',
  email: '邮箱格式不正确，请检查后重新填写',
  mobile: '手机号应为 11 位数字，以 13 至 19 开头',
} as const;
const M = INVOICE_FORM_MESSAGES;

/** '' from an empty input means "not given". Spaces around a value are never meant. */
const text = z.string().trim();
const optionalText = (max: number, message: string) =>
  text.max(max, { error: message }).optional().transform((v) => (v ? v : undefined));
/** Control characters and the like cannot be printed on an invoice and only ever come from paste accidents. */
const PRINTABLE = /^[^\p{Cc}\p{Cf}\p{Co}\p{Cs}]*$/u;

const fields = z.object({
  buyerKind: z.enum(BUYER_KINDS, { error: M.buyerKind }),
  title: z.string({ error: M.titleRequired }).trim().min(1, { error: M.titleRequired }).max(100, { error: M.titleTooLong }).regex(PRINTABLE, { error: M.titleBadCharacters }),
  /** Checked below: required and its format depend on buyerKind. */
  taxId: z.string().optional().transform((v) => v?.trim().toUpperCase() || undefined),
  bankName: optionalText(100, M.bankNameTooLong),
  /** People type accounts in groups of four; the groups are not part of the number. */
  bankAccount: z
    .string()
    .optional()
    .transform((v) => v?.replace(/[\s-]/g, '') || undefined)
    .pipe(z.string().regex(/^\d{8,30}$/, { error: M.bankAccount }).optional()),
  address: optionalText(100, M.addressTooLong),
  phone: z
    .string()
    .optional()
    .transform((v) => v?.trim() || undefined)
    .pipe(
      z
        .string()
        .regex(/^[0-9+()\- ]{5,20}$/, { error: M.phone })
        .refine((v) => (v.match(/\d/g) ?? []).length >= 5, { error: M.phone })
        .optional(),
    ),
  email: z.string({ error: M.emailRequired }).trim().min(1, { error: M.emailRequired }).max(100, { error: M.email }).pipe(z.email({ error: M.email })),
  mobile: z
    .string()
    .optional()
    .transform((v) => v?.replace(/\s/g, '') || undefined)
    .pipe(z.string().regex(/^1[3-9]\d{9}$/, { error: M.mobile }).optional()),
});

export const invoiceForm = fields.superRefine((form, ctx) => {
  if (form.taxId === undefined) {
    if (form.buyerKind === 'organisation') ctx.addIssue({ code: 'custom', path: ['taxId'], message: M.taxIdRequired });
  } else {
    // An individual usually has no tax ID; one who types it anyway gets it checked like anyone else's.
    const verdict = checkTaxId(form.taxId);
    if (!verdict.ok) ctx.addIssue({ code: 'custom', path: ['taxId'], message: verdict.reason === 'check-digit' ? M.taxIdCheckDigit : M.taxIdFormat });
  }
  if ((form.address ?? '').length + (form.phone ?? '').length > 100) {
    ctx.addIssue({ code: 'custom', path: ['address'], message: M.addressAndPhoneTooLong });
  }
  // The provider takes 开户行 and 账号 as one field ("开户行 账号"), 100 characters with the space between.
  if (form.bankName && form.bankAccount && form.bankName.length + 1 + form.bankAccount.length > 100) {
    ctx.addIssue({ code: 'custom', path: ['bankName'], message: M.bankTooLong });
  }
});

export type InvoiceForm = z.infer<typeof invoiceForm>;
/** The buyer's data as the service takes and returns it: a validated InvoiceForm, with absent fields simply left out. */
export interface InvoiceBuyer {
  buyerKind: BuyerKind;
  title: string;
  taxId?: string;
  bankName?: string;
  bankAccount?: string;
  address?: string;
  phone?: string;
  email: string;
  mobile?: string;
}
export type InvoiceFormField = keyof z.input<typeof fields>;

export type InvoiceFormResult =
  | { ok: true; form: InvoiceForm }
  | { ok: false; errors: Partial<Record<InvoiceFormField, string>>; detail: string };

/**
 * Validates the posted form. On refusal every field gets its first message (so the page can mark them all at
 * once) and `detail` names the failing checks for the log, without the values (they are personal data).
 */
export function validateInvoiceForm(input: Record<string, unknown>): InvoiceFormResult {
  const parsed = invoiceForm.safeParse(input);
  if (parsed.success) return { ok: true, form: parsed.data };
  const errors: Partial<Record<InvoiceFormField, string>> = {};
  for (const issue of parsed.error.issues) {
    const field = String(issue.path[0] ?? 'title') as InvoiceFormField;
    errors[field] ??= issue.message;
  }
  const detail = `invoice form: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.code}`).join('; ')}`;
  return { ok: false, errors, detail };
}

/**
 * Titles are compared after folding the differences people do not see: full-width vs half-width brackets and
 * spaces. A title that differs from the certificate's organisation is allowed (a branch may pay), only warned.
 */
export function normaliseTitle(title: string): string {
  return title.normalize('NFKC').replace(/\s+/g, '').replace(/（/g, '(').replace(/）/g, ')');
}
export function titleDiffersFromOrganisation(title: string, organisation: string): boolean {
  return normaliseTitle(title) !== normaliseTitle(organisation);
}

/** One request covers at most this many orders (one invoice line each; keeps the PDF on one page). */
export const MAX_ORDERS_PER_INVOICE = 20;
export const ORDER_SELECTION_MESSAGES = {
  none: '请选择要开票的订单',
  tooMany: `一次最多为 ${MAX_ORDERS_PER_INVOICE} 个订单开票，请分次开具`,
  bad: '所选订单有误，请刷新页面后重新选择',
} as const;

/**
 * The orders ticked on 待开票, as a form posts them (one value, or repeated `orderNos` fields). Duplicates are
 * dropped; order numbers are our own (letters and digits), anything else is a tampered form.
 */
export function parseOrderSelection(input: unknown): { ok: true; orderNos: string[] } | { ok: false; message: string } {
  const values = (Array.isArray(input) ? input : input === undefined || input === null || input === '' ? [] : [input]).map((v) => String(v).trim()).filter(Boolean);
  const orderNos = [...new Set(values)];
  if (orderNos.length === 0) return { ok: false, message: ORDER_SELECTION_MESSAGES.none };
  if (orderNos.length > MAX_ORDERS_PER_INVOICE) return { ok: false, message: ORDER_SELECTION_MESSAGES.tooMany };
  if (orderNos.some((no) => !/^[A-Za-z0-9_-]{6,32}$/.test(no))) return { ok: false, message: ORDER_SELECTION_MESSAGES.bad };
  return { ok: true, orderNos };
}
