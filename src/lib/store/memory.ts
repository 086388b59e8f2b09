import { type Clock, systemClock } from '../clock';
import { type KeyValueStore, type StoreWrite } from './types';

interface Entry {
  value: string;
  expiresAt: number | null;
}

/** In-process store for the embedded default (one process only: it is never shared between instances). */
export class MemoryStore implements KeyValueStore {
  readonly kind = 'memory' as const;
  private readonly entries = new Map<string, Entry>();
  private sweeper: NodeJS.Timeout;

  constructor(private readonly clock: Clock = systemClock) {
    this.sweeper = setInterval(() => this.sweep(), 30_000);
    this.sweeper.unref();
  }

  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt !== null && entry.expiresAt <= this.clock.nowMs()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  private put(key: string, value: string, ttlMs?: number) {
    this.entries.set(key, { value, expiresAt: ttlMs ? this.clock.nowMs() + ttlMs : null });
  }

  private sweep() {
    for (const key of [...this.entries.keys()]) this.live(key);
  }

  async get(key: string) {
    return this.live(key)?.value ?? null;
  }

  async set(key: string, value: string, opts: { ttlMs?: number; onlyIfAbsent?: boolean } = {}) {
    if (opts.onlyIfAbsent && this.live(key)) return false;
    this.put(key, value, opts.ttlMs);
    return true;
  }

  async del(key: string) {
    this.entries.delete(key);
  }

  async compareAndDelete(key: string, expected: string) {
    if (this.live(key)?.value !== expected) return false;
    this.entries.delete(key);
    return true;
  }

  async incr(key: string, ttlMs: number) {
    const entry = this.live(key);
    const next = (entry ? Number(entry.value) : 0) + 1;
    if (entry) entry.value = String(next);
    else this.put(key, String(next), ttlMs);
    return next;
  }

  async acquireAll(keys: string[], value: string, ttlMs: number, also?: StoreWrite) {
    for (const key of keys) {
      const entry = this.live(key);
      if (entry) return entry.value;
    }
    for (const key of keys) this.put(key, value, ttlMs);
    if (also && !(also.onlyIfAbsent && this.live(also.key))) this.put(also.key, also.value, also.ttlMs);
    return null;
  }

  async setAll(keys: string[], value: string, ttlMs: number) {
    for (const key of keys) this.put(key, value, ttlMs);
  }

  async ttlMs(key: string) {
    const entry = this.live(key);
    return entry?.expiresAt ? entry.expiresAt - this.clock.nowMs() : null;
  }

  async ping() {}

  async close() {
    clearInterval(this.sweeper);
    this.entries.clear();
  }
}
