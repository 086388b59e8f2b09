import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { type Deps } from '../../deps';
import { TooManyRequestsError } from '../errors';
import { RedisStore } from '../store/redis';

/**
 * A rate limiter in the shared store (Redis) when there is one, so every instance counts together; in memory
 * on the embedded default (one process). Keys carry the configured prefix.
 */
export function createLimiter(deps: Pick<Deps, 'config' | 'store'>, name: string, points: number, durationSec: number): RateLimiterAbstract {
  const keyPrefix = `${deps.config.cache.prefix}rl:${name}`;
  if (deps.store instanceof RedisStore) return new RateLimiterRedis({ storeClient: deps.store.client, keyPrefix, points, duration: durationSec });
  return new RateLimiterMemory({ keyPrefix, points, duration: durationSec });
}

/** Whole minutes until the limiter lets this key try again (at least 1: "0 分钟" reads as a bug). */
export const minutesUntil = (res: RateLimiterRes) => Math.max(1, Math.ceil(res.msBeforeNext / 60_000));

export const isLimiterRefusal = (err: unknown): err is RateLimiterRes => err instanceof RateLimiterRes;

/** A lockout: carries how long it lasts, for the Retry-After header. */
export class LockedOutError extends TooManyRequestsError {
  constructor(userMessage: string, detail: string, readonly retryAfterSec: number) {
    super(userMessage, detail);
  }
}

/**
 * A limit on failed guesses, atomic: `spend` takes a point before the guess is judged (refusing when none is
 * left), and `giveBack` returns it when the guess turned out right (or was never judged). Reading the count
 * first and adding a failure later let 200 parallel wrong guesses all pass the read: 179 were judged against a
 * limit of 10. Spending first means at most `points` guesses are ever judged per window, however many arrive
 * at once; a person who gets it right is still not slowed down, since their point comes back.
 */
export class FailureLimit {
  constructor(private readonly limiter: RateLimiterAbstract, private readonly what: string) {}

  /** Takes one point; returns the points left after it, or throws LockedOutError when the key has none. */
  async spend(key: string): Promise<number> {
    try {
      return (await this.limiter.consume(key)).remainingPoints;
    } catch (err) {
      if (isLimiterRefusal(err)) throw this.refusal(key, err);
      throw err;
    }
  }

  /** Returns a point taken by `spend` (the guess was right, or never judged). */
  async giveBack(key: string): Promise<void> {
    await this.limiter.reward(key, 1);
  }

  async reset(key: string): Promise<void> {
    await this.limiter.delete(key);
  }

  private refusal(key: string, res: RateLimiterRes): LockedOutError {
    return new LockedOutError(`尝试次数过多，请 ${minutesUntil(res)} 分钟后再试`, `${this.what} failure limit reached for ${key.slice(-6)}`, Math.max(1, Math.ceil(res.msBeforeNext / 1000)));
  }
}

/**
 * Several limits on one guess (per person, per address): spends a point from each in order; when one refuses,
 * the points already taken go back, since that guess is never judged.
 */
export async function spendAll(limits: ReadonlyArray<readonly [FailureLimit, string]>): Promise<() => Promise<void>> {
  const spent: Array<readonly [FailureLimit, string]> = [];
  try {
    for (const entry of limits) {
      await entry[0].spend(entry[1]);
      spent.push(entry);
    }
  } catch (err) {
    await Promise.all(spent.map(([limit, key]) => limit.giveBack(key)));
    throw err;
  }
  return async () => {
    await Promise.all(spent.map(([limit, key]) => limit.giveBack(key)));
  };
}
