import { type DataSource, LessThan } from 'typeorm';
import { type Clock } from '../../lib/clock';
import { type Logger } from '../../lib/logger';
import { type KeyValueStore } from '../../lib/store/types';
import { isValidAt, parsePlatformCertificate, type PlatformCertificate } from './certificates';
import { WechatPayPlatformCertificateEntity } from './entities';
import { type WechatPayKeyRing } from './sign';

/** WECHATPAY_PLATFORM_CERTS: download (and keep refreshed), file (the bundle only), off (public key only). */
export type PlatformCertsMode = 'download' | 'file' | 'off';

export const REFRESH_EVERY_MS = 12 * 3600_000;
/** At most one download per this interval is triggered by an unknown serial, so a forger cannot make us download per request. */
export const UNKNOWN_SERIAL_MIN_INTERVAL_MS = 60_000;

export interface PlatformCertificateKeeperOptions {
  mode: PlatformCertsMode;
  mchId: string;
  /** The one map serial → key the notify verifier and the response check read; the keeper adds to it and prunes it. */
  ring: WechatPayKeyRing;
  download: () => Promise<PlatformCertificate[]>;
  clock: Clock;
  logger: Logger;
  refreshEveryMs?: number;
  unknownSerialMinIntervalMs?: number;
}

export interface RefreshResult {
  ok: boolean;
  /** Serials new to the ring (downloaded or read from the database). */
  added: string[];
  /** Serials dropped because they expired. */
  dropped: string[];
  error?: string;
}

/**
 * Keeps the platform certificates in the key ring: at start and every 12 h (and, rate-limited, when a notify or
 * an answer names a serial we lack) it reads what other instances stored, downloads GET /v3/certificates, adds
 * every currently valid certificate and drops expired ones. A failed download changes nothing: the keys held stay
 * until they expire. Only a downloaded-and-verified certificate is written to the database (shared by instances).
 */
export class PlatformCertificateKeeper {
  private db?: DataSource;
  private sharedStore?: KeyValueStore;
  private inflight?: Promise<RefreshResult>;
  private lastUnknownSerialRefreshMs = Number.NEGATIVE_INFINITY;
  private timer?: NodeJS.Timeout;
  /** Downloads actually attempted (tests: the unknown-serial rate limit). */
  downloads = 0;
  lastRefresh?: RefreshResult & { atMs: number };

  constructor(private readonly opts: PlatformCertificateKeeperOptions) {}

  get mode(): PlatformCertsMode {
    return this.opts.mode;
  }

  /** Serials that verify right now (public key, file and downloaded alike). */
  held(): string[] {
    return this.opts.ring.serials.filter((s) => this.opts.ring.get(s));
  }

  /** Gives the keeper the database and loads what is stored there (no network). Safe without download mode. */
  async attach(db: DataSource): Promise<void> {
    this.db = db;
    if (this.opts.mode !== 'download') return;
    await this.loadStored().catch((err: Error) => this.opts.logger.warn({ err: err.message }, 'wechatpay platform certificates: cannot read the stored ones'));
  }

  /**
   * With the shared store the unknown-serial limit holds across instances: in each window one instance downloads,
   * the others only read what it stored (a forger spraying serials at ten instances still costs one download).
   */
  shareLimitThrough(store: KeyValueStore): void {
    this.sharedStore = store;
  }

  /** Refreshes now (in the background) and then every 12 h. Returns the stop function. */
  start(): () => void {
    if (this.opts.mode !== 'download' || this.timer) return () => this.stop();
    void this.refresh('start');
    this.timer = setInterval(() => void this.refresh('periodic'), this.opts.refreshEveryMs ?? REFRESH_EVERY_MS);
    this.timer.unref();
    return () => this.stop();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * A notify or an answer named `serial`, which the ring lacks: refresh unless one ran for this reason within the
   * last minute (joining one in flight costs nothing). Never throws.
   */
  async onUnknownSerial(serial: string): Promise<void> {
    if (this.opts.mode !== 'download' || this.opts.ring.get(serial)) return;
    if (this.inflight) {
      await this.inflight;
      return;
    }
    const now = this.opts.clock.nowMs();
    if (now - this.lastUnknownSerialRefreshMs < (this.opts.unknownSerialMinIntervalMs ?? UNKNOWN_SERIAL_MIN_INTERVAL_MS)) {
      this.opts.logger.debug({ serial: serial.slice(0, 64) }, 'wechatpay unknown serial: refresh rate-limited');
      return;
    }
    this.lastUnknownSerialRefreshMs = now;
    this.opts.logger.info({ serial: serial.slice(0, 64) }, 'wechatpay unknown serial: refreshing platform certificates');
    await this.refresh('unknown-serial', serial, () => this.claimSharedWindow(now));
  }

  /** True when this instance is the one to download in the current window (always, without a shared store). */
  private async claimSharedWindow(now: number): Promise<boolean> {
    if (!this.sharedStore) return true;
    const interval = this.opts.unknownSerialMinIntervalMs ?? UNKNOWN_SERIAL_MIN_INTERVAL_MS;
    const key = `wxpay:certs:unknown-serial:${this.opts.mchId}:${Math.floor(now / interval)}`;
    // A store that cannot answer must not stop a rotation from being picked up: download then.
    return this.sharedStore.incr(key, 2 * interval).then((n) => n === 1, () => true);
  }

  /** Resolves when no refresh is running (tests; shutdown). */
  async settled(): Promise<void> {
    await this.inflight;
  }

  /** One refresh at a time; concurrent callers share it. Never throws: the result says what happened. */
  refresh(reason: string, wanted?: string, mayDownload: () => Promise<boolean> = async () => true): Promise<RefreshResult> {
    // The whole refresh, deciding whether to download included, is the one in flight: callers and settled() see it.
    this.inflight ??= mayDownload().then((download) => this.doRefresh(reason, wanted, download)).finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /**
   * `wanted`: the unknown serial that asked; when another instance already stored it, no download is needed.
   * `download` false: another instance holds this window's download; only read what is stored.
   */
  private async doRefresh(reason: string, wanted: string | undefined, download: boolean): Promise<RefreshResult> {
    const { ring, logger } = this.opts;
    const dropped = ring.prune();
    const added: string[] = [];
    let error: string | undefined;
    if (this.opts.mode === 'download') {
      added.push(...await this.loadStored().catch((err: Error) => {
        logger.warn({ err: err.message }, 'wechatpay platform certificates: cannot read the stored ones');
        return [];
      }));
      if (wanted && ring.get(wanted)) {
        logger.info({ reason, serial: wanted }, 'wechatpay platform certificate found as stored by another instance');
      } else if (download) {
        error = await this.download(added);
      }
    }
    const result: RefreshResult = { ok: !error, added: [...new Set(added)], dropped, error };
    this.lastRefresh = { ...result, atMs: this.opts.clock.nowMs() };
    const valid = this.held();
    if (error) {
      logger.error({ alert: !valid.length, reason, err: error, held: valid }, 'wechatpay platform certificate download failed; the keys held stay in use');
    } else if (added.length || dropped.length) {
      logger.info({ reason, added: result.added, dropped, held: valid }, 'wechatpay platform certificates refreshed');
    }
    if (!valid.length) logger.error({ alert: true, reason }, 'wechatpay: no valid key verifies WeChat Pay signatures');
    return result;
  }

  /** Downloads, adds the valid certificates to the ring (their serials to `added`), stores them; returns the error, if any. */
  private async download(added: string[]): Promise<string | undefined> {
    this.downloads++;
    let certs: PlatformCertificate[];
    try {
      certs = await this.opts.download();
    } catch (err) {
      return (err as Error).message;
    }
    for (const c of certs) if (this.addToRing(c)) added.push(c.serialNo);
    await this.store(certs).catch((err: Error) => this.opts.logger.warn({ err: err.message }, 'wechatpay platform certificates: cannot store them (kept in memory)'));
    return undefined;
  }

  /** Adds a currently valid certificate; true when the ring did not hold it. */
  private addToRing(c: PlatformCertificate): boolean {
    if (!isValidAt(c, this.opts.clock.nowMs())) return false;
    const known = this.opts.ring.has(c.serialNo);
    this.opts.ring.add(c.serialNo, c.publicKey, { source: 'download', notBeforeMs: c.notBeforeMs, notAfterMs: c.notAfterMs });
    return !known;
  }

  /** Certificates stored by any instance: re-parsed and re-checked, the valid ones added. Returns the new serials. */
  private async loadStored(): Promise<string[]> {
    if (!this.db) return [];
    const rows = await this.db.getRepository(WechatPayPlatformCertificateEntity).find({ where: { mchId: this.opts.mchId } });
    const added: string[] = [];
    for (const row of rows) {
      try {
        const c = parsePlatformCertificate(row.pem, row.serialNo);
        if (this.addToRing(c)) added.push(c.serialNo);
      } catch (err) {
        this.opts.logger.warn({ serial: row.serialNo, err: (err as Error).message }, 'wechatpay stored platform certificate ignored');
      }
    }
    return added;
  }

  private async store(certs: PlatformCertificate[]): Promise<void> {
    if (!this.db) return;
    const repo = this.db.getRepository(WechatPayPlatformCertificateEntity);
    const now = new Date(this.opts.clock.nowMs());
    if (certs.length) {
      await repo.upsert(certs.map((c) => ({
        serialNo: c.serialNo, mchId: this.opts.mchId, pem: c.pem, notBefore: new Date(c.notBeforeMs), notAfter: new Date(c.notAfterMs), downloadedAt: now,
      })), ['serialNo', 'mchId']);
    }
    await repo.delete({ mchId: this.opts.mchId, notAfter: LessThan(now) });
  }
}
