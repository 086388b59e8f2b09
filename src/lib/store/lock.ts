import { randomBytes } from 'node:crypto';
import { type KeyValueStore } from './types';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A lease lock on the shared store (SET NX PX + compare-and-delete): one holder across all instances.
 * Returns null without running `fn` when the lock could not be taken within `waitMs`.
 */
export async function withLock<T>(
  store: KeyValueStore,
  name: string,
  opts: { ttlMs: number; waitMs?: number; pollMs?: number },
  fn: () => Promise<T>,
): Promise<{ value: T } | null> {
  const key = `lock:${name}`;
  const owner = randomBytes(12).toString('hex');
  const deadline = Date.now() + (opts.waitMs ?? 0);
  for (;;) {
    if (await store.set(key, owner, { ttlMs: opts.ttlMs, onlyIfAbsent: true })) break;
    if (Date.now() >= deadline) return null;
    await sleep(opts.pollMs ?? 50);
  }
  try {
    return { value: await fn() };
  } finally {
    await store.compareAndDelete(key, owner);
  }
}
