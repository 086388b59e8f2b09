import { z } from 'zod';
import { type Context, IN_PRODUCTION, need, S, trimSlashes } from '../../config/sections';
import { type Settings } from '../../config/settings';

export interface EInvoiceSeller { name: string; taxId: string; address?: string; phone?: string; bankAccount?: string }

export type EInvoiceConfig =
  | { mode: 'nuonuo'; url: string; appKey: string; appSecret: string; accessToken: string; clerk: string; extensionNumber?: string; seller: EInvoiceSeller; pollMs: number }
  | { mode: 'sandbox'; delayMs: number; failureRate: number; clerk: string; seller: EInvoiceSeller; pollMs: number };

const NUONUO = ['NUONUO_APP_KEY', 'NUONUO_APP_SECRET', 'NUONUO_ACCESS_TOKEN'] as const;
/** A made-up seller for the sandbox's sample invoices (its USCC has a valid check digit but belongs to nobody we know). */
const SANDBOX_SELLER: EInvoiceSeller = { name: '数安时代科技股份有限公司（沙箱）', taxId: '91440101MA5CYQ8X3X', address: '广州市天河区沙箱路 1 号', phone: '020-00000000', bankAccount: '中国建设银行广州沙箱支行 44000000000000000000' };

/**
 * The e-invoice section: Nuonuo when any NUONUO_* setting is given (always in production: all of them plus the
 * seller and the 开票员), else the sandbox issuer with its settable delay and failure rate.
 */
export function einvoiceSection(c: Context, settings: Settings): z.ZodType<EInvoiceConfig> {
  if (c.isProduction || NUONUO.some((k) => settings[k] !== undefined)) {
    const why = c.isProduction ? IN_PRODUCTION : 'missing while other NUONUO_* settings are set (set all of them, or none for the sandbox issuer)';
    return z.object({
      ...S,
      NUONUO_APP_KEY: need(why), NUONUO_APP_SECRET: need(why), NUONUO_ACCESS_TOKEN: need(why), NUONUO_CLERK: need(why),
      INVOICE_SELLER_NAME: need(why), INVOICE_SELLER_TAX_ID: need(why),
    }).transform((s) => ({
      mode: 'nuonuo' as const,
      url: trimSlashes(s.NUONUO_API_URL ?? 'https://sdk.nuonuo.com/open/v1/services'),
      appKey: s.NUONUO_APP_KEY, appSecret: s.NUONUO_APP_SECRET, accessToken: s.NUONUO_ACCESS_TOKEN, clerk: s.NUONUO_CLERK,
      ...(s.NUONUO_EXTENSION_NUMBER ? { extensionNumber: s.NUONUO_EXTENSION_NUMBER } : {}),
      seller: sellerOf(s, { name: s.INVOICE_SELLER_NAME, taxId: s.INVOICE_SELLER_TAX_ID }),
      pollMs: s.EINVOICE_POLL_MS,
    }));
  }
  return z.object(S).transform((s) => ({
    mode: 'sandbox' as const,
    delayMs: s.EINVOICE_SANDBOX_DELAY_MS,
    failureRate: s.EINVOICE_SANDBOX_FAILURE_RATE,
    clerk: s.NUONUO_CLERK ?? '沙箱开票员',
    seller: sellerOf(s, { name: s.INVOICE_SELLER_NAME ?? SANDBOX_SELLER.name, taxId: s.INVOICE_SELLER_TAX_ID ?? SANDBOX_SELLER.taxId }, SANDBOX_SELLER),
    pollMs: s.EINVOICE_POLL_MS,
  }));
}

function sellerOf(s: Settings, base: { name: string; taxId: string }, fallback?: EInvoiceSeller): EInvoiceSeller {
  const address = s.INVOICE_SELLER_ADDRESS ?? fallback?.address;
  const phone = s.INVOICE_SELLER_PHONE ?? fallback?.phone;
  const bankAccount = s.INVOICE_SELLER_BANK_ACCOUNT ?? fallback?.bankAccount;
  return { ...base, ...(address ? { address } : {}), ...(phone ? { phone } : {}), ...(bankAccount ? { bankAccount } : {}) };
}
