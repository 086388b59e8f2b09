import Redis from 'ioredis';
import { type KeyValueStore, type StoreWrite } from './types';

const COMPARE_AND_DELETE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
const INCR_WITH_TTL = `local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return n`;
// One round trip for the webhook's replay + dedupe claim: either all keys are set, or the first existing value is returned.
const ACQUIRE_ALL = `for i, k in ipairs(KEYS) do local v = redis.call('GET', k) if v then return v end end
for i, k in ipairs(KEYS) do redis.call('SET', k, ARGV[1], 'PX', ARGV[2]) end return false`;
// The same, and when acquired one more SET (KEYS[#KEYS]; ARGV[3..5]: value, TTL, "NX" or ""): claim + window.
const ACQUIRE_ALL_AND_SET = `local n = #KEYS - 1 for i = 1, n do local v = redis.call('GET', KEYS[i]) if v then return v end end
for i = 1, n do redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2]) end
if ARGV[5] == 'NX' then redis.call('SET', KEYS[#KEYS], ARGV[3], 'PX', ARGV[4], 'NX') else redis.call('SET', KEYS[#KEYS], ARGV[3], 'PX', ARGV[4]) end return false`;
const SET_ALL = `for i, k in ipairs(KEYS) do redis.call('SET', k, ARGV[1], 'PX', ARGV[2]) end return 1`;

type ScriptedRedis = Redis & {
  camCompareAndDelete(key: string, expected: string): Promise<number>;
  camIncrWithTtl(key: string, ttlMs: number): Promise<number>;
  camAcquireAll(...args: (string | number)[]): Promise<string | null>;
  camAcquireAllAndSet(...args: (string | number)[]): Promise<string | null>;
  camSetAll(...args: (string | number)[]): Promise<number>;
};

export function createRedisClient(url: string, opts: { lazyConnect?: boolean } = {}): Redis {
  return new Redis(url, {
    lazyConnect: opts.lazyConnect ?? false,
    // Fail fast while Redis is down (healthz answers 503) instead of queueing requests forever.
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    connectTimeout: 5000,
    // Commands issued in the same tick (many concurrent requests) go out in one write: fewer syscalls per request.
    enableAutoPipelining: true,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
}

export class RedisStore implements KeyValueStore {
  readonly kind = 'redis' as const;
  private readonly redis: ScriptedRedis;

  constructor(redis: Redis, private readonly prefix: string) {
    redis.defineCommand('camCompareAndDelete', { numberOfKeys: 1, lua: COMPARE_AND_DELETE });
    redis.defineCommand('camIncrWithTtl', { numberOfKeys: 1, lua: INCR_WITH_TTL });
    redis.defineCommand('camAcquireAll', { lua: ACQUIRE_ALL });
    redis.defineCommand('camAcquireAllAndSet', { lua: ACQUIRE_ALL_AND_SET });
    redis.defineCommand('camSetAll', { lua: SET_ALL });
    this.redis = redis as ScriptedRedis;
  }

  get client(): Redis {
    return this.redis;
  }

  private k(key: string) {
    return this.prefix + key;
  }

  get(key: string) {
    return this.redis.get(this.k(key));
  }

  async set(key: string, value: string, opts: { ttlMs?: number; onlyIfAbsent?: boolean } = {}) {
    const k = this.k(key);
    let result: string | null;
    if (opts.ttlMs && opts.onlyIfAbsent) result = await this.redis.set(k, value, 'PX', opts.ttlMs, 'NX');
    else if (opts.ttlMs) result = await this.redis.set(k, value, 'PX', opts.ttlMs);
    else if (opts.onlyIfAbsent) result = await this.redis.set(k, value, 'NX');
    else result = await this.redis.set(k, value);
    return result === 'OK';
  }

  async del(key: string) {
    await this.redis.del(this.k(key));
  }

  async compareAndDelete(key: string, expected: string) {
    return (await this.redis.camCompareAndDelete(this.k(key), expected)) === 1;
  }

  incr(key: string, ttlMs: number) {
    return this.redis.camIncrWithTtl(this.k(key), ttlMs);
  }

  acquireAll(keys: string[], value: string, ttlMs: number, also?: StoreWrite) {
    if (also) return this.redis.camAcquireAllAndSet(keys.length + 1, ...keys.map((k) => this.k(k)), this.k(also.key), value, ttlMs, also.value, also.ttlMs, also.onlyIfAbsent ? 'NX' : '');
    return this.redis.camAcquireAll(keys.length, ...keys.map((k) => this.k(k)), value, ttlMs);
  }

  async setAll(keys: string[], value: string, ttlMs: number) {
    await this.redis.camSetAll(keys.length, ...keys.map((k) => this.k(k)), value, ttlMs);
  }

  async ttlMs(key: string) {
    const ttl = await this.redis.pttl(this.k(key));
    return ttl >= 0 ? ttl : null;
  }

  async ping() {
    await this.redis.ping();
  }

  async close() {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
