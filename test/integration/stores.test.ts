import { CustomerServiceWindow } from '../../src/providers/wechat-api/cs-window';
import { withLock } from '../../src/lib/store/lock';
import { type KeyValueStore } from '../../src/lib/store/types';
import { backend, TestClock } from '../helpers/harness';
import { useTestApp } from '../helpers/use-test-app';

let store: KeyValueStore;

const t = useTestApp({ startJobs: false });
// Runs after useTestApp's beforeAll (hooks run in the order they are registered): the instance is up.
beforeAll(async () => {
  store = t.instance.deps.store;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe(`shared store (${backend})`, () => {
  it('When one of several keys exists, then acquireAll sets none and returns its value', async () => {
    expect(await store.acquireAll(['a1', 'a2'], 'processing', 5000)).toBeNull();
    expect(await store.acquireAll(['a3', 'a2'], 'processing', 5000)).toBe('processing');
    expect(await store.get('a3')).toBeNull();
    await store.setAll(['a1', 'a2'], 'done', 5000);
    expect(await store.acquireAll(['a1'], 'processing', 5000)).toBe('done');
  });

  it('When acquireAll is given one more write, then it is made only when the keys were acquired, NX respected', async () => {
    expect(await store.acquireAll(['b1', 'b2'], 'processing', 5000, { key: 'bWin', value: 'first', ttlMs: 5000 })).toBeNull();
    expect(await store.get('bWin')).toBe('first');
    expect(await store.ttlMs('bWin')).toBeGreaterThan(4000);
    // Not acquired: the extra write is not made.
    expect(await store.acquireAll(['b2'], 'processing', 5000, { key: 'bWin', value: 'second', ttlMs: 5000 })).toBe('processing');
    expect(await store.get('bWin')).toBe('first');
    // Acquired, but the extra write is only-if-absent and the key exists: kept.
    expect(await store.acquireAll(['b3'], 'processing', 5000, { key: 'bWin', value: 'third', ttlMs: 5000, onlyIfAbsent: true })).toBeNull();
    expect(await store.get('bWin')).toBe('first');
    // Acquired and overwriting.
    expect(await store.acquireAll(['b4'], 'processing', 5000, { key: 'bWin', value: 'fourth', ttlMs: 5000 })).toBeNull();
    expect(await store.get('bWin')).toBe('fourth');
  });

  it('When 50 callers race for one key, then exactly one acquires it', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, () => store.acquireAll(['race'], 'processing', 5000)));
    expect(results.filter((r) => r === null)).toHaveLength(1);
  });

  it('When a TTL passes, then the key is gone', async () => {
    await store.set('short', 'x', { ttlMs: 50 });
    expect(await store.get('short')).toBe('x');
    await sleep(80);
    expect(await store.get('short')).toBeNull();
  });

  it('When a counter is incremented, then its TTL is set once at creation', async () => {
    expect(await store.incr('ctr', 10_000)).toBe(1);
    expect(await store.incr('ctr', 10_000)).toBe(2);
    const ttl = await store.ttlMs('ctr');
    expect(ttl).toBeGreaterThan(9_000);
  });

  it('When a lock is held, then a second holder waits or gives up, and only the owner releases it', async () => {
    const order: string[] = [];
    const first = withLock(store, 'l1', { ttlMs: 2000 }, async () => {
      order.push('first-in');
      await sleep(100);
      order.push('first-out');
    });
    while (!order.includes('first-in')) await sleep(1);
    expect(await withLock(store, 'l1', { ttlMs: 2000, waitMs: 0 }, async () => order.push('never'))).toBeNull();
    await withLock(store, 'l1', { ttlMs: 2000, waitMs: 1000, pollMs: 10 }, async () => order.push('second'));
    await first;
    expect(order).toEqual(['first-in', 'first-out', 'second']);
    await store.set('lock:l2', 'someone-else', { ttlMs: 2000 });
    expect(await store.compareAndDelete('lock:l2', 'me')).toBe(false);
    expect(await store.get('lock:l2')).toBe('someone-else');
  });
});

describe(`customer-service window (${backend})`, () => {
  it('When the user wrote a message, then five customer-service messages may follow and no sixth', async () => {
    const window = new CustomerServiceWindow(store);
    await window.recordInteraction('oMsg', 'message');
    const allowed = [];
    for (let i = 0; i < 6; i++) allowed.push(await window.tryConsume('oMsg'));
    expect(allowed).toEqual([true, true, true, true, true, false]);
  });

  it('When the user only followed, then three may follow; after a VIEW alone, none', async () => {
    const window = new CustomerServiceWindow(store);
    await window.recordInteraction('oFollow', 'subscribe');
    expect([await window.tryConsume('oFollow'), await window.tryConsume('oFollow'), await window.tryConsume('oFollow'), await window.tryConsume('oFollow')]).toEqual([true, true, true, false]);
    await window.recordInteraction('oView', 'view');
    expect(await window.tryConsume('oView')).toBe(false);
  });

  it('When a follow comes after a message, then the 48 h window is kept, not cut to a minute', async () => {
    const clock = new TestClock();
    const window = new CustomerServiceWindow(store, clock);
    await window.recordInteraction('oBoth', 'message');
    await window.recordInteraction('oBoth', 'click');
    expect(await store.ttlMs('cswin:oBoth')).toBeGreaterThan(3600_000);
  });
});
