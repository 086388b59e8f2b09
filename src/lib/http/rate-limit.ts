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
 * A limit on failures: `check` refuses while the key has used up its points, `fail` spends one. Successful
 * attempts cost nothing, so a person who gets it right is never slowed down by the limit.
 */
export class FailureLimit {
  constructor(private readonly limiter: RateLimiterAbstract, private readonly what: string) {}

  async check(key: string): Promise<void> {
    const res = await this.limiter.get(key);
    if (res && res.consumedPoints >= this.limiter.points) throw this.refusal(key, res);
  }

  /** Counts a failure; returns the failures left before the key is locked out. */
  async fail(key: string): Promise<number> {
    try {
      const res = await this.limiter.consume(key);
      return res.remainingPoints;
    } catch (err) {
      if (isLimiterRefusal(err)) return 0;
      throw err;
    }
  }

  async reset(key: string): Promise<void> {
    await this.limiter.delete(key);
  }

  private refusal(key: string, res: RateLimiterRes): LockedOutError {
    return new LockedOutError(`尝试次数过多，请 ${minutesUntil(res)} 分钟后再试`, `${this.what} failure limit reached for ${key.slice(-6)}`, Math.max(1, Math.ceil(res.msBeforeNext / 1000)));
  }
}
