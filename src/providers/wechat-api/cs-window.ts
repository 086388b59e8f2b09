import { type Clock, systemClock } from '../../lib/clock';
import { type KeyValueStore, type StoreWrite } from '../../lib/store/types';

/**
 * WeChat lets an account send customer-service messages only inside a window opened by the user:
 * a message opens 48 h for 5 messages; a follow, a scan or a menu CLICK opens 1 min for 3; a VIEW opens none.
 * Tracking it here keeps the delayed-reply path from spending calls that WeChat would refuse (45015/45047).
 * One store write per interaction: it sits on the webhook's hot path.
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
  constructor(private readonly store: KeyValueStore, private readonly clock: Clock = systemClock) {}

  private key(openid: string) {
    return `cswin:${openid}`;
  }

  /**
   * Opens a window after the user did something. A message always opens the long window; a follow, scan or
   * CLICK opens a short one only when none is open, so it never cuts short a 48 h window.
   */
  async recordInteraction(openid: string, kind: InteractionKind): Promise<void> {
    const write = this.interactionWrite(openid, kind);
    if (write) await this.store.set(write.key, write.value, { ttlMs: write.ttlMs, onlyIfAbsent: write.onlyIfAbsent });
  }

  /** The store write that records the interaction (null for none), for a caller that makes it with others at once. */
  interactionWrite(openid: string, kind: InteractionKind): StoreWrite | null {
    const window = WINDOWS[kind];
    if (!window) return null;
    // The value names the window (quota and start), so its message counter starts at zero without a delete.
    return { key: this.key(openid), value: `${window.quota}:${this.clock.nowMs()}`, ttlMs: window.ttlMs, onlyIfAbsent: kind !== 'message' };
  }

  /** Takes one message from the open window; false when WeChat would refuse it. */
  async tryConsume(openid: string): Promise<boolean> {
    const [value, ttl] = await Promise.all([this.store.get(this.key(openid)), this.store.ttlMs(this.key(openid))]);
    if (value === null || ttl === null) return false;
    const [quota, startedAt] = value.split(':');
    const used = await this.store.incr(`${this.key(openid)}:${startedAt}:used`, ttl);
    return used <= Number(quota);
  }
}
