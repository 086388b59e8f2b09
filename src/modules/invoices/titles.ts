import { type EntityManager } from 'typeorm';
import { type Deps } from '../../deps';
import { handlerActor } from './buyer';
import { InvoiceSavedTitleEntity } from './entities';
import { type InvoiceBuyer, normaliseTitle } from './schemas';
import { TITLE_PURPOSE } from './buyer';

/**
 * Titles a buyer used, offered again on the form. Sealed (an individual's name, e-mail and mobile are personal
 * information); one row per openid and title (an HMAC of kind + normalised title, so no plaintext is needed to
 * find it). Kept until the buyer deletes it, at most the 12 most recent (older ones are dropped on save).
 */
export const MAX_SAVED_TITLES = 12;

export interface StoredTitle { id: number; buyer: InvoiceBuyer; lastUsedAt: Date }

export class SavedTitles {
  constructor(private readonly deps: Pick<Deps, 'pii'>) {}

  async save(em: EntityManager, openid: string, form: InvoiceBuyer, at: Date): Promise<void> {
    const titleIndex = this.deps.pii.index(`${form.buyerKind}:${normaliseTitle(form.title)}`, TITLE_PURPOSE);
    const sealed = this.deps.pii.encrypt(JSON.stringify(form), TITLE_PURPOSE);
    const updated = await em.update(InvoiceSavedTitleEntity, { openid, titleIndex }, { sealed, lastUsedAt: at });
    if (!updated.affected) {
      await em.createQueryBuilder().insert().into(InvoiceSavedTitleEntity).values({ openid, titleIndex, sealed, lastUsedAt: at, createdAt: at }).orIgnore().execute();
    }
    const rows = await em.find(InvoiceSavedTitleEntity, { where: { openid }, order: { lastUsedAt: 'DESC', id: 'DESC' }, select: ['id'] });
    const extra = rows.slice(MAX_SAVED_TITLES).map((r) => r.id);
    if (extra.length) await em.delete(InvoiceSavedTitleEntity, extra);
  }

  async list(em: EntityManager, openid: string): Promise<StoredTitle[]> {
    const rows = await em.find(InvoiceSavedTitleEntity, { where: { openid }, order: { lastUsedAt: 'DESC', id: 'DESC' }, take: MAX_SAVED_TITLES });
    return rows.map((row) => ({
      id: row.id, lastUsedAt: row.lastUsedAt,
      buyer: JSON.parse(this.deps.pii.decrypt(row.sealed, TITLE_PURPOSE, { actor: handlerActor(openid), reason: 'invoice-form-prefill', subject: `invoice-title:${row.id}` })) as InvoiceBuyer,
    }));
  }

  async delete(em: EntityManager, openid: string, id: number): Promise<boolean> {
    const result = await em.delete(InvoiceSavedTitleEntity, { openid, id });
    return (result.affected ?? 0) > 0;
  }

  async deleteAll(em: EntityManager, openid: string): Promise<number> {
    const result = await em.delete(InvoiceSavedTitleEntity, { openid });
    return result.affected ?? 0;
  }
}
