import { IsNull, LessThan } from 'typeorm';
import { type Deps } from '../../deps';
import { BUYER_PURPOSE, openBuyer, sealBuyer } from './buyer';
import { InvoiceMailEntity, InvoiceRequestEntity, InvoiceSavedTitleEntity } from './entities';

/**
 * Retention (README "我的发票 → Retention"). The invoice records and files are accounting records (会计档案, 30
 * years) and are never deleted here. What is only needed to deliver an individual's invoice is not kept longer:
 * 180 days after issuance (time enough to resend it) an individual buyer's e-mail and mobile are erased from the
 * request and its e-mails (PIPL art. 19: the shortest period necessary); the name, printed on the invoice, stays
 * with the record. Saved titles unused for 2 years are deleted (the buyer can delete them any time).
 */
export const CONTACTS_KEPT_MS = 180 * 86_400_000;
export const SAVED_TITLES_KEPT_MS = 2 * 365 * 86_400_000;
const ERASED = '';

export async function applyInvoiceRetention(deps: Deps, now: Date, limit = 100): Promise<{ erased: number; titles: number }> {
  const em = deps.db.manager;
  const due = await em.find(InvoiceRequestEntity, {
    where: { buyerKind: 'individual', contactsErasedAt: IsNull(), issuedAt: LessThan(new Date(now.getTime() - CONTACTS_KEPT_MS)) }, take: limit,
  });
  for (const row of due) {
    const buyer = openBuyer(deps.pii, row, { actor: 'system:invoice-retention', reason: 'erase-contacts' });
    const { mobile: _mobile, ...rest } = buyer;
    await em.update(InvoiceRequestEntity, { id: row.id }, { buyerSealed: sealBuyer(deps.pii, { ...rest, email: ERASED }), contactsErasedAt: now });
    await em.update(InvoiceMailEntity, { requestId: row.id }, { toSealed: deps.pii.encrypt(ERASED, 'invoice-mail-to') });
  }
  const titles = await em.delete(InvoiceSavedTitleEntity, { lastUsedAt: LessThan(new Date(now.getTime() - SAVED_TITLES_KEPT_MS)) });
  if (due.length || titles.affected) deps.logger.info({ erased: due.length, titles: titles.affected ?? 0 }, 'invoice retention applied');
  return { erased: due.length, titles: titles.affected ?? 0 };
}

export { BUYER_PURPOSE };
