import { createHmac, hkdfSync } from 'node:crypto';
import { type EntityManager, IsNull, MoreThan } from 'typeorm';
import { type Deps } from '../../deps';
import { randomToken } from '../../lib/clock';
import { isUniqueViolation } from '../../lib/db/sql';
import { inTransaction } from '../../lib/db/transaction';
import { type BindingCode, BindingCodeEntity } from './entities';

/** No 0/O, 1/I/L: the code is read off a PC screen and typed on a phone. */
export const BINDING_CODE_ALPHABET = '23456789ABCDEFGHJKMNPQRSTUVWXYZ';
export const BINDING_CODE_LENGTH = 8;
export const BINDING_CODE_TTL_MS = 10 * 60_000;
/** Wrong last-4 guesses a code survives; the fifth burns it (the PC must fetch a new one). */
export const MAX_WRONG_MEDIA_TRIES = 5;

export interface IssuedBindingCode {
  code: string;
  /** Goes into the QR code's URL instead of the code: URLs end up in logs and browser history. */
  qrToken: string;
  expiresAt: Date;
}

/** Upper-cases and drops the spaces and dashes people type ("abcd-efgh" → "ABCDEFGH"). */
export function normaliseBindingCode(input: string): string {
  return input.trim().toUpperCase().replace(/[\s-]+/g, '');
}

export function looksLikeBindingCode(code: string): boolean {
  return code.length === BINDING_CODE_LENGTH && [...code].every((c) => BINDING_CODE_ALPHABET.includes(c));
}

/**
 * Binding codes and their QR tokens. Only HMACs are stored: someone who reads the database (or a backup)
 * cannot bind, and an 8-character code is too short for a plain hash to resist guessing offline. The HMAC key
 * is derived from SESSION_SECRET with HKDF under its own label, so it is a secret without being one more
 * setting, and it is never the cookie-signing key itself. (Rotating SESSION_SECRET voids live codes: they
 * last 10 minutes.)
 */
export class BindingCodeService {
  private readonly key: Buffer;

  constructor(private readonly deps: Pick<Deps, 'db' | 'clock' | 'random' | 'config'>) {
    this.key = Buffer.from(hkdfSync('sha256', deps.config.sessionSecret, 'shuan-ca-guanjia', 'binding-code-hmac/v1', 32));
  }

  hmac(value: string): string {
    return createHmac('sha256', this.key).update(value).digest('hex');
  }

  /**
   * A new code for the certificate; it replaces any earlier one (used or not) in one transaction, so there is
   * only ever one live code per certificate. A collision with another certificate's live code (1 in 31^8)
   * just draws again.
   */
  async issue(certificateId: number, opts: { sandbox: boolean }): Promise<IssuedBindingCode> {
    const now = new Date(this.deps.clock.nowMs());
    const expiresAt = new Date(now.getTime() + BINDING_CODE_TTL_MS);
    for (let attempt = 1; ; attempt++) {
      const code = randomToken(this.deps.random, BINDING_CODE_LENGTH, BINDING_CODE_ALPHABET);
      const qrToken = this.deps.random.bytes(32).toString('base64url');
      try {
        await inTransaction(this.deps.db, async (em) => {
          await em.delete(BindingCodeEntity, { certificateId });
          await em.insert(BindingCodeEntity, {
            certificateId, codeHmac: this.hmac(code), qrTokenHmac: this.hmac(qrToken), qrSpentAt: null, expiresAt,
            usedAt: null, usedByOpenid: null, failedAttempts: 0, sandbox: opts.sandbox, createdAt: now,
          });
        });
        return { code, qrToken, expiresAt };
      } catch (err) {
        // A unique clash: the same code drawn twice, or two PCs asking for this certificate at the same moment.
        if (attempt >= 3 || !isUniqueViolation(err)) throw err;
      }
    }
  }

  findByCode(em: EntityManager, code: string): Promise<BindingCode | null> {
    return em.findOne(BindingCodeEntity, { where: { codeHmac: this.hmac(normaliseBindingCode(code)) } });
  }

  findById(em: EntityManager, id: number): Promise<BindingCode | null> {
    return em.findOne(BindingCodeEntity, { where: { id } });
  }

  /**
   * Spends a QR token: the first scan gets its code row, any later one nothing. A conditional UPDATE decides,
   * so two scans at once cannot both win.
   */
  async spendQrToken(qrToken: string): Promise<BindingCode | null> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(qrToken)) return null;
    const now = new Date(this.deps.clock.nowMs());
    const qrTokenHmac = this.hmac(qrToken);
    const result = await this.deps.db.getRepository(BindingCodeEntity)
      .update({ qrTokenHmac, qrSpentAt: IsNull(), usedAt: IsNull(), expiresAt: MoreThan(now) }, { qrSpentAt: now });
    if (!result.affected) return null;
    return this.deps.db.getRepository(BindingCodeEntity).findOne({ where: { qrTokenHmac } });
  }

  /** Counts a wrong last-4 guess; returns the count after it (atomic: concurrent guesses all count). */
  async recordWrongMediaDigits(em: EntityManager, id: number): Promise<number> {
    await em.increment(BindingCodeEntity, { id }, 'failedAttempts', 1);
    const row = await em.findOne(BindingCodeEntity, { where: { id } });
    return row?.failedAttempts ?? MAX_WRONG_MEDIA_TRIES;
  }

  /**
   * Marks the code used by this openid. Exactly one caller can win: the UPDATE only matches an unused,
   * unexpired, unburnt row, and the database serialises the two writers.
   */
  async claim(em: EntityManager, id: number, openid: string, at: Date): Promise<boolean> {
    const result = await em.createQueryBuilder().update(BindingCodeEntity)
      .set({ usedAt: at, usedByOpenid: openid })
      .where('id = :id AND used_at IS NULL AND expires_at > :at AND failed_attempts < :max', { id, at, max: MAX_WRONG_MEDIA_TRIES })
      .execute();
    return (result.affected ?? 0) === 1;
  }
}
