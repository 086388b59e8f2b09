/**
 * The shared key-value store: Redis in production (shared by every instance), an in-process map in the
 * embedded default. Sessions, locks, dedupe and replay keys, rate limits and the token cache use only this.
 * Keys are given without the prefix; each implementation applies its own.
 */
/** One more write that `acquireAll` makes in the same atomic step, only when it acquired. */
export interface StoreWrite {
  key: string;
  value: string;
  ttlMs: number;
  onlyIfAbsent?: boolean;
}

export interface KeyValueStore {
  readonly kind: 'redis' | 'memory';
  get(key: string): Promise<string | null>;
  /** Returns false when `onlyIfAbsent` was asked and the key existed. */
  set(key: string, value: string, opts?: { ttlMs?: number; onlyIfAbsent?: boolean }): Promise<boolean>;
  del(key: string): Promise<void>;
  /** Deletes the key only while it still holds `expected` (lock release). */
  compareAndDelete(key: string, expected: string): Promise<boolean>;
  /** Increments a counter; the TTL is set when the counter is created. */
  incr(key: string, ttlMs: number): Promise<number>;
  /**
   * Sets every key to `value` with a TTL if none of them exists, atomically. Returns null when acquired,
   * otherwise the value of the first key that existed. `also` is written too when (and only when) it acquired:
   * the webhook's claim and the customer-service window it opens are one round trip.
   */
  acquireAll(keys: string[], value: string, ttlMs: number, also?: StoreWrite): Promise<string | null>;
  /** Sets every key to `value` with a TTL (overwriting). */
  setAll(keys: string[], value: string, ttlMs: number): Promise<void>;
  /** Remaining TTL in ms, or null when the key does not exist or never expires. */
  ttlMs(key: string): Promise<number | null>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
