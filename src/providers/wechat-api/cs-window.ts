import { type KeyValueStore } from '../../lib/store/types';

/**
 * WeChat lets an account send customer-service messages only inside a window opened by the user:
 * a message opens 48 h for 5 messages; a follow, a scan or a menu CLICK opens 1 min for 3; a VIEW opens none.
 * Tracking it here keeps the delayed-reply path from spending calls that WeChat would refuse (45015/45047).
 */
export type InteractionKind = 'message' | 'subscribe' | 'scan' | 'click' | 'view';

const WINDOWS: Record<InteractionKind, { ttlMs: number; quota: number } | null> = {
  message: { ttlMs: 48 * 3600_000, quota: 5 },
  subscribe: { ttlMs: 60_000, quota: 3 },
  scan: { ttlMs: 60_000, quota: 3 },
  click: { ttlMs: 60_000, quota: 3 },
  view: null,
};

export class CustomerServiceWindow {
  constructor(private readonly store: KeyValueStore) {}

  private key(openid: string) {
    return `cswin:${openid}`;
  }

  /** Opens (or reopens) the window after the user did something; a VIEW leaves any open window as it is. */
  async recordInteraction(openid: string, kind: InteractionKind): Promise<void> {
    const window = WINDOWS[kind];
    if (!window) return;
    const current = await this.store.ttlMs(this.key(openid));
    // A follow's short window must not cut short a 48 h window the user already opened by writing.
    if (current !== null && current > window.ttlMs) return;
    await this.store.set(this.key(openid), String(window.quota), { ttlMs: window.ttlMs });
    await this.store.del(`${this.key(openid)}:used`);
  }

  /** Takes one message from the window; false when WeChat would refuse it. */
  async tryConsume(openid: string): Promise<boolean> {
    const quota = await this.store.get(this.key(openid));
    const ttl = await this.store.ttlMs(this.key(openid));
    if (quota === null || ttl === null) return false;
    const used = await this.store.incr(`${this.key(openid)}:used`, ttl);
    return used <= Number(quota);
  }
}
