import { type EntityManager, In, MoreThan, MoreThanOrEqual, IsNull, Not } from 'typeorm';
import { isUniqueViolation, utcDatetime } from '../../lib/db/sql';
import { CertificateBindingEntity } from '../binding/entities';
import { type Certificate, CertificateEntity } from '../certificates/entities';
import { type Follower, FollowerEntity } from '../followers/entities';
import { type LegacyBinding, LegacyBindingEntity } from './entities';
import { type LegacyKeyKind, serialVariants } from './schemas';

export interface LegacyRow {
  unionid: string;
  keyKind: LegacyKeyKind;
  keyValue: string;
  origin: string;
}

/** How many rows one statement carries: well under SQLite's and MySQL's placeholder limits. */
const CHUNK = 200;

const rowKey = (r: Pick<LegacyRow, 'unionid' | 'keyKind' | 'keyValue'>) => `${r.unionid}\n${r.keyKind}\n${r.keyValue}`;

/**
 * Legacy bindings and the few reads of followers, certificates and bindings that restoring them needs. No method
 * opens a transaction: every write is one statement the unique constraints arbitrate, so a restore racing
 * another (a re-follow while the batch runs) ends with one row and one count, on MySQL and on SQLite alike.
 */
export class LegacyBindingRepository {
  /** Inserts the rows not yet stored; the unique (unionid, key_kind, key_value) makes a second import a no-op. */
  async insertMissing(em: EntityManager, rows: LegacyRow[], at: Date): Promise<{ inserted: number; already: number }> {
    let inserted = 0;
    let already = 0;
    for (let i = 0; i < rows.length; i += CHUNK) {
      const chunk = rows.slice(i, i + CHUNK);
      const existing = await em.find(LegacyBindingEntity, { where: { unionid: In([...new Set(chunk.map((r) => r.unionid))]) } });
      const stored = new Set(existing.map(rowKey));
      const fresh = chunk.filter((r) => !stored.has(rowKey(r)));
      already += chunk.length - fresh.length;
      if (!fresh.length) continue;
      try {
        await em.insert(LegacyBindingEntity, fresh.map((r) => ({ ...r, importedAt: at })));
        inserted += fresh.length;
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        // Another import of the same rows got in between: settle row by row (the statement above left nothing).
        for (const r of fresh) {
          try {
            await em.insert(LegacyBindingEntity, { ...r, importedAt: at });
            inserted += 1;
          } catch (rowErr) {
            if (!isUniqueViolation(rowErr)) throw rowErr;
            already += 1;
          }
        }
      }
    }
    return { inserted, already };
  }

  findByUnionid(em: EntityManager, unionid: string): Promise<LegacyBinding[]> {
    return em.find(LegacyBindingEntity, { where: { unionid } });
  }

  /** The unionids WeChat gave for followers that have a row (the owed-restore pass): one statement per page. */
  async saveUnionids(em: EntityManager, pairs: Array<{ openid: string; unionid: string }>, at: Date): Promise<void> {
    for (let i = 0; i < pairs.length; i += CHUNK) {
      const chunk = pairs.slice(i, i + CHUNK);
      await em.query(
        `UPDATE followers SET unionid = CASE openid ${chunk.map(() => 'WHEN ? THEN ?').join(' ')} END, updated_at = ? WHERE openid IN (${chunk.map(() => '?').join(', ')})`,
        [...chunk.flatMap((p) => [p.openid, p.unionid]), utcDatetime(at), ...chunk.map((p) => p.openid)],
      );
    }
  }

  /** Which of these unionids have legacy rows (one statement for a page of the owed-restore pass; most have none). */
  async unionidsWithRows(em: EntityManager, unionids: string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (let i = 0; i < unionids.length; i += CHUNK) {
      const rows = await em.find(LegacyBindingEntity, { select: { unionid: true }, where: { unionid: In(unionids.slice(i, i + CHUNK)) } });
      for (const r of rows) out.add(r.unionid);
    }
    return out;
  }

  /** True when any legacy row exists at all: without one, the batch has nothing to look for. */
  async any(em: EntityManager): Promise<boolean> {
    return (await em.count(LegacyBindingEntity, { take: 1 })) > 0;
  }

  /**
   * The certificates the given keys name, per key (`serial:<hex>` / `media:<serial>`). A superseded certificate
   * stands for its successor (renewed since the old mini program); revoked ones are left out; sandbox
   * certificates only when the caller allows them.
   */
  async certificatesFor(em: EntityManager, keys: Array<{ keyKind: LegacyKeyKind; keyValue: string }>, opts: { includeSandbox: boolean }): Promise<Map<string, Certificate[]>> {
    const variants = new Map<string, string>();
    for (const k of keys) if (k.keyKind === 'serial') for (const v of serialVariants(k.keyValue)) variants.set(v, k.keyValue);
    const medias = [...new Set(keys.filter((k) => k.keyKind === 'media').map((k) => k.keyValue))];
    const found: Certificate[] = [];
    const serials = [...variants.keys()];
    for (let i = 0; i < serials.length; i += CHUNK) found.push(...await em.find(CertificateEntity, { where: { serialHex: In(serials.slice(i, i + CHUNK)) } }));
    for (let i = 0; i < medias.length; i += CHUNK) found.push(...await em.find(CertificateEntity, { where: { mediaSerial: In(medias.slice(i, i + CHUNK)) } }));

    const result = new Map<string, Certificate[]>();
    for (const cert of found) {
      if (cert.sandbox && !opts.includeSandbox) continue;
      const current = await this.currentOf(em, cert);
      if (!current || current.status === 'revoked') continue;
      const names: string[] = [];
      const serialKey = variants.get(cert.serialHex);
      if (serialKey !== undefined) names.push(`serial:${serialKey}`);
      if (cert.mediaSerial && medias.includes(cert.mediaSerial)) names.push(`media:${cert.mediaSerial}`);
      for (const name of names) {
        const list = result.get(name) ?? [];
        if (!list.some((c) => c.id === current.id)) list.push(current);
        result.set(name, list);
      }
    }
    return result;
  }

  /** Follows supersededById to the certificate now in use (a few hops at most: one per renewal). */
  private async currentOf(em: EntityManager, cert: Certificate): Promise<Certificate | null> {
    let current: Certificate | null = cert;
    for (let hops = 0; current?.supersededById && hops < 10; hops++) current = await em.findOne(CertificateEntity, { where: { id: current.supersededById } });
    return current;
  }

  /** Certificates this openid has a binding row for, active or not: an unbound one was unbound on purpose. */
  async boundCertificateIds(em: EntityManager, openid: string): Promise<Set<number>> {
    const rows = await em.find(CertificateBindingEntity, { where: { openid }, select: { certificateId: true } });
    return new Set(rows.map((r) => r.certificateId));
  }

  /** Active bindings restored from legacy rows since `since`: what the H5 home tells the user about. */
  countRestoredSince(em: EntityManager, openid: string, since: Date, opts: { includeSandbox: boolean }): Promise<number> {
    return em.count(CertificateBindingEntity, {
      where: { openid, active: true, source: 'legacy', boundAt: MoreThanOrEqual(since), ...(opts.includeSandbox ? {} : { sandbox: false }) },
    });
  }

  /**
   * Stores the unionid WeChat reported on the follower row. Someone who followed before this system existed has
   * no row yet: one is created (WeChat just said they follow), so the batch and later visits find them.
   */
  async saveUnionid(em: EntityManager, openid: string, unionid: string, follows: { subscribed: boolean; subscribedAt: Date | null }, at: Date, sandbox: boolean): Promise<void> {
    const updated = await em.update(FollowerEntity, { openid }, { unionid, updatedAt: at });
    if ((updated.affected ?? 0) > 0 || !follows.subscribed) return;
    try {
      await em.insert(FollowerEntity, {
        openid, unionid, subscribed: true, firstScene: null, lastScene: null, subscribedAt: follows.subscribedAt ?? at,
        unsubscribedAt: null, sandbox, createdAt: at, updatedAt: at,
      });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      // The subscribe event recorded the row meanwhile.
      await em.update(FollowerEntity, { openid }, { unionid, updatedAt: at });
    }
  }

  /** Followers with one of these unionids (the import restores them at once). */
  async followersWithUnionids(em: EntityManager, unionids: string[], opts: { includeSandbox: boolean }): Promise<Follower[]> {
    const out: Follower[] = [];
    for (let i = 0; i < unionids.length; i += CHUNK) {
      out.push(...await em.find(FollowerEntity, { where: { unionid: In(unionids.slice(i, i + CHUNK)), ...(opts.includeSandbox ? {} : { sandbox: false }) } }));
    }
    return out;
  }

  /** One page of followers in id order (keyset paging: stable while the webhook adds rows). */
  pageOfFollowers(em: EntityManager, afterId: number, limit: number, opts: { includeSandbox: boolean }): Promise<Follower[]> {
    return em.find(FollowerEntity, {
      where: { id: MoreThan(afterId), ...(opts.includeSandbox ? {} : { sandbox: false }) },
      order: { id: 'ASC' },
      take: limit,
    });
  }

  /** The unionid stored for a follower, if any. */
  async unionidOf(em: EntityManager, openid: string, opts: { includeSandbox: boolean }): Promise<string | null> {
    const row = await em.findOne(FollowerEntity, {
      where: { openid, unionid: Not(IsNull()), ...(opts.includeSandbox ? {} : { sandbox: false }) },
      select: { unionid: true },
    });
    return row?.unionid ?? null;
  }
}
