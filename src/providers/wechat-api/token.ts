import { type Clock } from '../../lib/clock';
import { type Logger } from '../../lib/logger';
import { type Metrics } from '../../lib/metrics';
import { withLock } from '../../lib/store/lock';
import { type KeyValueStore } from '../../lib/store/types';
import { TRANSPORT_ERRCODE, WechatApiError } from './errors';
import { type WechatHttp } from './http';

const STABLE_TOKEN_API = 'cgi-bin/stable_token';
/** WeChat's stable_token hands out a new token in the last 5 minutes anyway; refreshing then never leaves a gap. */
export const REFRESH_AHEAD_MS = 5 * 60_000;
/** A token with less left than this is not worth handing to a caller that is about to make a call with it. */
const MIN_USABLE_MS = 30_000;
/** How long an instance waits for another instance's refresh before giving up (fetch timeout is 5 s). */
const WAIT_MS = 10_000;
const POLL_MS = 50;
// Longer than one fetch (5 s timeout), shorter than WAIT_MS: if the holder dies, a waiter takes over before giving up.
const LOCK_TTL_MS = 8_000;
/** WeChat allows force_refresh 20 times a day, 30 s apart; we stay inside that on our own count. */
export const FORCE_REFRESH_GAP_MS = 30_000;
export const FORCE_REFRESHES_PER_DAY = 20;

interface CachedToken {
  token: string;
  expiresAt: number;
}

export type ForceRefreshOutcome = { ok: true; token: string } | { ok: false; reason: string };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The calendar day in Beijing time: WeChat's daily quotas reset at midnight there. */
function beijingDay(ms: number): string {
  return new Date(ms + 8 * 3600_000).toISOString().slice(0, 10);
}

/**
 * The access_token, shared by every instance through the store. One instance refreshes at a time (a lock);
 * the others poll the cache instead of fetching, because each fetch may invalidate what the others hold
 * and stable_token calls are counted. Within one instance, concurrent refreshes share one promise.
 */
export class AccessTokenManager {
  private readonly inflight = new Map<string, Promise<string>>();
  private readonly key: string;

  constructor(
    private readonly opts: {
      http: WechatHttp;
      store: KeyValueStore;
      logger: Logger;
      metrics: Metrics;
      clock: Clock;
      appId: string;
      appSecret: string;
    },
  ) {
    // Keyed by appid so a changed account on a shared Redis never picks up the old account's token.
    this.key = `wechat:token:${opts.appId}`;
  }

  async get(): Promise<string> {
    const cached = await this.read();
    if (cached && cached.expiresAt - this.now() > REFRESH_AHEAD_MS) return cached.token;
    return this.refresh(cached?.token, cached && this.usable(cached) ? cached : undefined);
  }

  /**
   * A token other than `staleToken`: one another instance stored meanwhile, or a new fetch.
   * `fallback` (a still valid token) is returned instead of waiting when another instance holds the lock.
   */
  refresh(staleToken: string | undefined, fallback?: CachedToken): Promise<string> {
    const flightKey = staleToken ?? '';
    let flight = this.inflight.get(flightKey);
    if (!flight) {
      flight = this.refreshAcrossInstances(staleToken, fallback).finally(() => this.inflight.delete(flightKey));
      this.inflight.set(flightKey, flight);
    }
    return flight;
  }

  /** Drops the cached token, but only while it is still the one that failed (another instance may have stored a fresh one). */
  async invalidate(token: string): Promise<void> {
    const raw = await this.opts.store.get(this.key);
    if (raw && this.parse(raw)?.token === token) await this.opts.store.compareAndDelete(this.key, raw);
  }

  /**
   * force_refresh: invalidates every token WeChat has issued to this account, so it is the last resort and
   * rate-limited here (30 s apart, 20 a day, counted in the store for all instances).
   */
  async forceRefresh(failedToken: string): Promise<ForceRefreshOutcome> {
    const result = await withLock(this.opts.store, this.key, { ttlMs: LOCK_TTL_MS, waitMs: WAIT_MS, pollMs: POLL_MS }, async (): Promise<ForceRefreshOutcome> => {
      const current = await this.read();
      if (current && current.token !== failedToken && this.usable(current)) return { ok: true, token: current.token };
      const gapFree = await this.opts.store.set(`${this.key}:force-gap`, '1', { ttlMs: FORCE_REFRESH_GAP_MS, onlyIfAbsent: true });
      if (!gapFree) return { ok: false, reason: `a force_refresh ran less than ${FORCE_REFRESH_GAP_MS / 1000} s ago` };
      const today = await this.opts.store.incr(`${this.key}:force-count:${beijingDay(this.now())}`, 26 * 3600_000);
      if (today > FORCE_REFRESHES_PER_DAY) return { ok: false, reason: `${FORCE_REFRESHES_PER_DAY} force_refresh calls already made today` };
      return { ok: true, token: await this.fetch(true) };
    });
    return result?.value ?? { ok: false, reason: 'another instance held the token lock for too long' };
  }

  private async refreshAcrossInstances(staleToken: string | undefined, fallback?: CachedToken): Promise<string> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const got = await withLock(this.opts.store, this.key, { ttlMs: LOCK_TTL_MS }, async () => {
        // Whoever held the lock before us may have stored a token already: then there is nothing to fetch.
        const current = await this.read();
        if (current && current.token !== staleToken && this.usable(current)) return current.token;
        return this.fetch(false);
      });
      if (got) return got.value;
      if (fallback && this.usable(fallback)) return fallback.token;
      await sleep(POLL_MS);
      const current = await this.read();
      if (current && current.token !== staleToken && this.usable(current)) return current.token;
      if (Date.now() >= deadline) {
        this.opts.metrics.tokenRefreshes.inc({ result: 'error' });
        throw new WechatApiError(STABLE_TOKEN_API, TRANSPORT_ERRCODE, 'gave up waiting for another instance to refresh the access_token');
      }
    }
  }

  private async fetch(force: boolean): Promise<string> {
    const { http, appId, appSecret, store, metrics, logger } = this.opts;
    let body;
    try {
      body = await http.call(STABLE_TOKEN_API, {
        method: 'POST',
        body: { grant_type: 'client_credential', appid: appId, secret: appSecret, force_refresh: force },
        secrets: [appSecret],
      });
    } catch (err) {
      metrics.tokenRefreshes.inc({ result: 'error' });
      throw err;
    }
    const token = typeof body.access_token === 'string' ? body.access_token : '';
    const expiresInMs = Number(body.expires_in) * 1000;
    if (!token || !(expiresInMs > 0)) {
      metrics.tokenRefreshes.inc({ result: 'error' });
      throw new WechatApiError(STABLE_TOKEN_API, TRANSPORT_ERRCODE, 'answer without access_token or expires_in');
    }
    const entry: CachedToken = { token, expiresAt: this.now() + expiresInMs };
    await store.set(this.key, JSON.stringify(entry), { ttlMs: expiresInMs });
    metrics.tokenRefreshes.inc({ result: force ? 'force_refresh' : 'ok' });
    logger.info({ expiresInSeconds: expiresInMs / 1000, force }, 'wechat access_token refreshed');
    return token;
  }

  private async read(): Promise<CachedToken | undefined> {
    const raw = await this.opts.store.get(this.key);
    return raw ? this.parse(raw) : undefined;
  }

  private parse(raw: string): CachedToken | undefined {
    try {
      const value = JSON.parse(raw) as Partial<CachedToken>;
      return typeof value.token === 'string' && typeof value.expiresAt === 'number' ? (value as CachedToken) : undefined;
    } catch {
      return undefined;
    }
  }

  private usable(entry: CachedToken): boolean {
    return entry.expiresAt - this.now() > MIN_USABLE_MS;
  }

  private now(): number {
    return this.opts.clock.nowMs();
  }
}
