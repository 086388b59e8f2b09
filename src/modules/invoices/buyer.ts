import { type PiiAccess, type PiiVault } from '../../lib/pii/vault';
import { type EInvoiceBuyer } from '../../providers/einvoice/types';
import { type InvoiceBuyer } from './schemas';

/**
 * The buyer's data at rest. The title (抬头) is a column: it is printed on the invoice, listed in 开票历史 and kept
 * with the tax record. Everything else (税号, bank, address, phone, e-mail, mobile) is sealed with the PII vault:
 * an individual's contact details are personal information (PIPL), and a database copy should not hand out the
 * e-mail addresses of every buyer.
 */
export const BUYER_PURPOSE = 'invoice-buyer';
export const TITLE_PURPOSE = 'invoice-title';

type Sealed = Omit<InvoiceBuyer, 'buyerKind' | 'title'>;

export function sealBuyer(pii: PiiVault, form: InvoiceBuyer): string {
  const { buyerKind: _kind, title: _title, ...rest } = form;
  return pii.encrypt(JSON.stringify(rest satisfies Sealed), BUYER_PURPOSE);
}

export function openBuyer(pii: PiiVault, row: { buyerKind: InvoiceBuyer['buyerKind']; title: string; buyerSealed: string; id?: number }, access: Omit<PiiAccess, 'subject'>): InvoiceBuyer {
  const rest = JSON.parse(pii.decrypt(row.buyerSealed, BUYER_PURPOSE, { ...access, subject: row.id ? `invoice-request:${row.id}` : undefined })) as Sealed;
  return { buyerKind: row.buyerKind, title: row.title, ...rest, email: rest.email ?? '' };
}

export function providerBuyer(form: InvoiceBuyer): EInvoiceBuyer {
  return {
    kind: form.buyerKind, name: form.title, email: form.email,
    ...(form.taxId ? { taxId: form.taxId } : {}), ...(form.bankName ? { bankName: form.bankName } : {}), ...(form.bankAccount ? { bankAccount: form.bankAccount } : {}),
    ...(form.address ? { address: form.address } : {}), ...(form.phone ? { phone: form.phone } : {}), ...(form.mobile ? { mobile: form.mobile } : {}),
  };
}

/** A handler's actor name for the PII audit (the openid's tail, never the whole id). */
export const handlerActor = (openid: string) => `handler:${openid.slice(-6)}`;
