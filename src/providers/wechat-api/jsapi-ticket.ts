import { type Clock } from '../../lib/clock';
import { type Logger } from '../../lib/logger';
import { withLock } from '../../lib/store/lock';
import { type KeyValueStore } from '../../lib/store/types';
import { TRANSPORT_ERRCODE, WechatApiError } from './errors';
import { type WechatJson } from './http';
import { REFRESH_AHEAD_MS } from './token';

export const JSAPI_TICKET_API = 'cgi-bin/ticket/getticket';
/** A ticket with less left than this could expire between the page render and wx.config on a slow phone. */
const MIN_USABLE_MS = 60_000;
const WAIT_MS = 10_000;
const POLL_MS = 50;
const LOCK_TTL_MS = 8_000;

interface CachedTicket {
  ticket: string;
  expiresAt: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The jsapi_ticket (JS-SDK permission ticket), kept like the access_token (see token.ts): one copy in the shared
 * store (Redis with MariaDB, in-process on the embedded default) for every instance, refreshed a few minutes
 * before it expires by one instance at a time (a lock), the others polling the store. WeChat counts getticket
 * calls per day and asks every server to cache the ticket globally; one fetch per two hours is all we make.
 * `fetchTicket` is the authed getticket call: the access_token and its error recovery come from the client.
 */
export class JsapiTicketManager {
  private inflight?: Promise<string>;
  private readonly key: string;

  constructor(
    private readonly opts: {
      store: KeyValueStore;
      logger: Logger;
      clock: Clock;
      appId: string;
      fetchTicket: () => Promise<WechatJson>;
    },
  ) {
    this.key = `wechat:jsapi-ticket:${opts.appId}`;
  }

  async get(): Promise<string> {
    const cached = await this.read();
    if (cached && cached.expiresAt - this.now() > REFRESH_AHEAD_MS) return cached.ticket;
    // Within one instance, concurrent page views share one refresh.
    this.inflight ??= this.refreshAcrossInstances(cached).finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async refreshAcrossInstances(previous: CachedTicket | undefined): Promise<string> {
    const deadline = Date.now() + WAIT_MS;
    const fresh = (entry: CachedTicket | undefined) => entry && entry.ticket !== previous?.ticket && this.usable(entry);
    for (;;) {
      const got = await withLock(this.opts.store, this.key, { ttlMs: LOCK_TTL_MS }, async () => {
        const current = await this.read();
        return fresh(current) ? current!.ticket : this.fetch();
      });
      if (got) return got.value;
      // Another instance is fetching: a ticket that is still good serves this page meanwhile.
      if (previous && this.usable(previous)) return previous.ticket;
      await sleep(POLL_MS);
      const current = await this.read();
      if (fresh(current)) return current!.ticket;
      if (Date.now() >= deadline) throw new WechatApiError(JSAPI_TICKET_API, TRANSPORT_ERRCODE, 'gave up waiting for another instance to refresh the jsapi_ticket');
    }
  }

  private async fetch(): Promise<string> {
    const body = await this.opts.fetchTicket();
    const ticket = typeof body.ticket === 'string' ? body.ticket : '';
    const expiresInMs = Number(body.expires_in) * 1000;
    if (!ticket || !(expiresInMs > 0)) throw new WechatApiError(JSAPI_TICKET_API, TRANSPORT_ERRCODE, 'answer without ticket or expires_in');
    await this.opts.store.set(this.key, JSON.stringify({ ticket, expiresAt: this.now() + expiresInMs } satisfies CachedTicket), { ttlMs: expiresInMs });
    this.opts.logger.info({ expiresInSeconds: expiresInMs / 1000 }, 'wechat jsapi_ticket refreshed');
    return ticket;
  }

  private async read(): Promise<CachedTicket | undefined> {
    const raw = await this.opts.store.get(this.key);
    if (!raw) return undefined;
    try {
      const value = JSON.parse(raw) as Partial<CachedTicket>;
      return typeof value.ticket === 'string' && typeof value.expiresAt === 'number' ? (value as CachedTicket) : undefined;
    } catch {
      return undefined;
    }
  }

  private usable(entry: CachedTicket): boolean {
    return entry.expiresAt - this.now() > MIN_USABLE_MS;
  }

  private now(): number {
    return this.opts.clock.nowMs();
  }
}
