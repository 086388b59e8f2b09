import { createHash } from 'node:crypto';
import { type Clock, type Random } from '../../lib/clock';
import { ValidationError } from '../../lib/errors';
import { type KeyValueStore } from '../../lib/store/types';

/** How long a challenge may be signed and presented: enough to type a PIN, short enough to be useless later. */
export const CHALLENGE_TTL_MS = 2 * 60_000;
const CHALLENGE_BYTES = 32;
export const CHALLENGE_PURPOSE = '数安CA管家证书绑定';

export interface IssuedChallenge {
  /** The 32 random bytes, base64: the page keeps nothing else. */
  nonceBase64: string;
  /** The exact UTF-8 text the key signs. */
  text: string;
  /** base64 of the text's UTF-8 bytes: what the key agent's `sign` is given. */
  dataBase64: string;
  expiresAt: Date;
}

/**
 * Proof of possession for /capc/: the server hands out random bytes, the U-KEY signs them. The signed text names
 * the purpose and the site, so a signature made here cannot be replayed to another service that also asks a
 * U-KEY to sign challenges (nor one from there here). A challenge is bound to the page session that asked for it,
 * lives two minutes and is taken once: the store's compare-and-delete removes it only if it still belongs to that
 * session, atomically, so two racing presentations cannot both succeed.
 */
export class ChallengeService {
  constructor(private readonly deps: { store: KeyValueStore; random: Random; clock: Clock; publicBaseUrl: string }) {}

  /** The text a key signs for this nonce. Rebuilt, never stored: the nonce and the site determine it. */
  textFor(nonceBase64: string): string {
    return `${CHALLENGE_PURPOSE}\n站点: ${this.deps.publicBaseUrl}\n挑战: ${nonceBase64}`;
  }

  /** `sessionKey` is a random id kept in the page session (not the session cookie itself). */
  async issue(sessionKey: string): Promise<IssuedChallenge> {
    if (!sessionKey) throw new Error('ChallengeService.issue needs a session key');
    const nonceBase64 = this.deps.random.bytes(CHALLENGE_BYTES).toString('base64');
    await this.deps.store.set(storeKey(nonceBase64), sessionKey, { ttlMs: CHALLENGE_TTL_MS });
    const text = this.textFor(nonceBase64);
    return {
      nonceBase64,
      text,
      dataBase64: Buffer.from(text, 'utf8').toString('base64'),
      expiresAt: new Date(this.deps.clock.nowMs() + CHALLENGE_TTL_MS),
    };
  }

  /**
   * Consumes the challenge and returns the signed data (UTF-8 bytes of the text). Refuses an unknown, expired,
   * already used, or another session's challenge; another session's attempt leaves the challenge in place for
   * its owner.
   */
  async take(sessionKey: string, nonceBase64: string): Promise<Buffer> {
    const key = storeKey(nonceBase64);
    if (sessionKey && await this.deps.store.compareAndDelete(key, sessionKey)) return Buffer.from(this.textFor(nonceBase64), 'utf8');
    const owner = await this.deps.store.get(key);
    const detail = owner === null ? 'challenge unknown, expired or already used' : 'challenge belongs to another session';
    throw new ValidationError('验证已过期，请重新获取绑定码', detail);
  }
}

/** The nonce is hashed in the key: a store listing shows no live challenge. */
function storeKey(nonceBase64: string): string {
  return `capc:challenge:${createHash('sha256').update(nonceBase64).digest('hex')}`;
}
