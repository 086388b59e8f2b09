import { type Deps } from '../../deps';
import { type JobQueue } from '../../lib/jobs/types';
import { withLock } from '../../lib/store/lock';
import { type Logger, openidTail } from '../../lib/logger';
import { WechatApiError } from '../../providers/wechat-api/errors';
import { USER_INFO_BATCH } from '../../providers/wechat-api/real';
import { type WechatUserInfo } from '../../providers/wechat-api/types';
import { FollowerRepository } from '../followers/repository';
import { LEGACY_NOTICE_JOB, LegacyRestoreService } from './service';

/**
 * The restore a subscribe owes, without a job per event. The subscribe's follower upsert marks the row
 * (restore_owed, committed before the webhook replies, in the same statement); one job — the owed-restore pass —
 * takes the marked rows 100 at a time, asks WeChat about all of them in one user/info/batchget, restores and
 * clears the marks. A follow burst thus costs one statement per batch of follows and one WeChat call per 100
 * users, instead of a queued job and a WeChat call per follow. The pass is kicked after each follow (coalesced:
 * at most one enqueue in flight) and also runs every minute, so a kick lost with its process delays it, no more.
 */
export const LEGACY_RESTORE_OWED_JOB = 'legacy.restore-owed';
/** Pages one pass takes before it yields to a fresh run (the kick or the minute queues the next). */
const PAGES_PER_PASS = 20;
const PASS_LOCK = 'legacy-owed-pass';
/** Longer than a pass takes (20 pages of 100 users); past it a second pass may overlap, which is only wasteful. */
const PASS_LOCK_TTL_MS = 120_000;
/** "A pass was asked for while one ran": the running pass goes round again. */
const PASS_AGAIN = 'legacy:owed-pass:again';

export interface OwedPassOutcome {
  users: number;
  created: number;
  /** The pass stopped at its page limit with follows still owed: a fresh pass is queued for them. */
  more?: boolean;
}

export class RestoreOwedPass {
  private readonly followers = new FollowerRepository();
  private readonly service: LegacyRestoreService;

  constructor(private readonly deps: Pick<Deps, 'config' | 'db' | 'store' | 'clock' | 'logger' | 'wechatApi' | 'jobs'>, private readonly pagesPerPass = PAGES_PER_PASS) {
    this.service = new LegacyRestoreService(deps);
  }

  /**
   * One pass at a time across instances (passes that overlap would take the same oldest page and do its work
   * twice). A pass queued while another runs leaves a note instead, and the running one goes round again before
   * it lets go, so no follow it has not seen is left to the minute's pass.
   */
  async runExclusive(): Promise<OwedPassOutcome> {
    const total: OwedPassOutcome = { users: 0, created: 0 };
    const ran = await withLock(this.deps.store, PASS_LOCK, { ttlMs: PASS_LOCK_TTL_MS }, async () => {
      do {
        await this.deps.store.del(PASS_AGAIN);
        const { users, created, more } = await this.run();
        total.users += users;
        total.created += created;
        total.more = more;
      } while ((await this.deps.store.get(PASS_AGAIN)) !== null);
    });
    if (!ran) await this.deps.store.set(PASS_AGAIN, '1', { ttlMs: PASS_LOCK_TTL_MS });
    return total;
  }

  /** Restores every follower marked as owed (up to PAGES_PER_PASS pages); the restore notices are queued before the marks go. */
  async run(): Promise<OwedPassOutcome> {
    const outcome: OwedPassOutcome = { users: 0, created: 0 };
    for (let page = 0; page < this.pagesPerPass; page++) {
      const openids = await this.followers.owedRestores(this.deps.db.manager, USER_INFO_BATCH);
      if (!openids.length) break;
      for (const [openid, created] of await this.service.restorePage(await this.userInfos(openids))) {
        await this.deps.jobs.enqueue(LEGACY_NOTICE_JOB, { openid, count: created });
        outcome.created += created;
      }
      await this.followers.clearOwedRestores(this.deps.db.manager, openids);
      outcome.users += openids.length;
      if (page === this.pagesPerPass - 1) outcome.more = true;
    }
    return outcome;
  }

  /**
   * One batchget for the page. WeChat refuses the whole call when one openid is not the account's (40003): then
   * each is asked alone, and one WeChat will never answer for is logged and left (its mark still goes).
   */
  private async userInfos(openids: string[]): Promise<Map<string, WechatUserInfo>> {
    const out = new Map<string, WechatUserInfo>();
    try {
      for (const info of await this.deps.wechatApi.getUserInfoBatch(openids)) if (info.openid) out.set(info.openid, info);
      return out;
    } catch (err) {
      if (!(err instanceof WechatApiError) || err.retryable) throw err;
    }
    for (const openid of openids) {
      try {
        out.set(openid, await this.deps.wechatApi.getUserInfo(openid));
      } catch (err) {
        if (!(err instanceof WechatApiError) || err.retryable) throw err;
        this.deps.logger.warn({ openid: openidTail(openid), errcode: err.errcode }, 'legacy restore: user info refused by WeChat; not retried');
      }
    }
    return out;
  }
}

/**
 * Queues the owed-restore pass shortly after a follow: the follows of the next KICK_DELAY_MS share one pass (a
 * burst queues a few jobs a second, not one per follow). Each pass is a job of its own (no fixed id), so a pass
 * already running never swallows the kick of a follow it has not seen; two passes that overlap do the same
 * idempotent work (a binding is made once; only the pass that made it queues its notice).
 */
const KICK_DELAY_MS = 100;

export class RestoreKick {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly jobs: JobQueue, private readonly logger: Logger) {}

  kick(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // The mark is durable; the minute's pass takes it if this enqueue does not get through.
      this.jobs.enqueue(LEGACY_RESTORE_OWED_JOB, {}).catch((err: unknown) => this.logger.warn({ err }, 'could not queue the owed-restore pass; the next minute\'s pass takes it'));
    }, KICK_DELAY_MS);
    this.timer.unref();
  }

}

/** Queues the pass every minute (every instance asks; the id is the minute, so they share one run). */
export function scheduleRestoreOwedPass(deps: Pick<Deps, 'jobs' | 'clock' | 'logger'>, everyMs = 60_000): () => void {
  const timer = setInterval(() => {
    const minute = Math.floor(deps.clock.nowMs() / everyMs);
    deps.jobs.enqueue(LEGACY_RESTORE_OWED_JOB, {}, { jobId: `${LEGACY_RESTORE_OWED_JOB}:${minute}`, attempts: 1 })
      .catch((err: unknown) => deps.logger.warn({ err }, 'could not queue the owed-restore pass'));
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
