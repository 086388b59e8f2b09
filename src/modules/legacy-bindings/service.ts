import { type Deps } from '../../deps';
import { isUniqueViolation } from '../../lib/db/sql';
import { type JobQueue } from '../../lib/jobs/types';
import { openidTail } from '../../lib/logger';
import { WechatApiError } from '../../providers/wechat-api/errors';
import { type WechatUserInfo } from '../../providers/wechat-api/types';
import { BindingRepository } from '../binding/repository';
import { LegacyBindingRepository } from './repository';

/** The text of the customer-service message and of the H5 home notice: the same words in both places. */
export const restoredText = (count: number) => `已为您恢复 ${count} 张证书的绑定，可在「我的数字证书」查看`;

/** How long the H5 home keeps telling the user what was restored. */
export const NOTICE_DAYS = 30;
const DAY_MS = 86_400_000;
/** How long "this openid was checked" is remembered; after that one visit checks again (one user-info call). */
const CHECKED_TTL_MS = NOTICE_DAYS * DAY_MS;
/** The first H5 visit waits this long for WeChat's answer; past it the job finishes the work in the background. */
export const VISIT_BUDGET_MS = 1500;

export const LEGACY_RESTORE_JOB = 'legacy.restore';
export const LEGACY_NOTICE_JOB = 'legacy.restore-notice';

/**
 * Queues the restore for one openid whose first H5 visit WeChat did not answer in time: one id per openid, so
 * reloading the page does not queue more. (Follows are restored by the owed-restore pass: owed.ts.)
 */
export function enqueueLegacyRestore(jobs: JobQueue, openid: string): Promise<void> {
  return jobs.enqueue(LEGACY_RESTORE_JOB, { openid, reason: 'visit' }, { jobId: `${LEGACY_RESTORE_JOB}:visit:${openid}` });
}

export interface RestoreOutcome {
  /** New bindings made by this run (0 on a re-follow). */
  created: number;
  /** Legacy rows of this unionid naming a certificate we do not know (yet). */
  pending: number;
}

export interface CheckOutcome extends RestoreOutcome {
  unionid: string | null;
}

type LegacyDeps = Pick<Deps, 'config' | 'db' | 'store' | 'clock' | 'logger' | 'wechatApi' | 'jobs'>;

/**
 * Returning users (seed 二): whoever bound certificates in the old mini program only follows again. Their
 * legacy rows (unionid → certificate serial or media serial) become bindings of the openid that has that
 * unionid. Nothing here sends messages: the job does, after the bindings are written.
 *
 * A legacy row naming a certificate we do not know yet stays pending. It is restored when the certificate
 * becomes known (issued by our CA, presented at /capc/) and the restore runs again: on the user's next H5 visit
 * (the "checked" flag says pending, so the home page re-runs the database-only restore), on the next import of
 * a file naming the same unionid, and by `npm run restore:legacy`.
 */
export class LegacyRestoreService {
  private readonly repo = new LegacyBindingRepository();
  private readonly bindings = new BindingRepository();
  private readonly sandbox: boolean;

  constructor(private readonly deps: LegacyDeps) {
    this.sandbox = deps.config.sandbox;
  }

  private now() {
    return new Date(this.deps.clock.nowMs());
  }

  private checkedKey(openid: string) {
    return `legacy:checked:${openid}`;
  }

  /** Binds every certificate the unionid's legacy rows name; returns how many bindings are new. */
  async restoreForOpenid(openid: string, unionid: string): Promise<number> {
    return (await this.restore(openid, unionid)).created;
  }

  async restore(openid: string, unionid: string): Promise<RestoreOutcome> {
    const em = this.deps.db.manager;
    const rows = await this.repo.findByUnionid(em, unionid);
    let created = 0;
    let pending = 0;
    if (rows.length) {
      const certs = await this.repo.certificatesFor(em, rows, { includeSandbox: this.sandbox });
      const alreadyBound = await this.repo.boundCertificateIds(em, openid);
      const at = this.now();
      const seen = new Set<number>();
      for (const row of rows) {
        const named = certs.get(`${row.keyKind}:${row.keyValue}`) ?? [];
        if (!named.length) pending += 1;
        for (const cert of named) {
          // A row this openid already has (even unbound, which the user did on purpose) is never touched again.
          if (seen.has(cert.id) || alreadyBound.has(cert.id)) continue;
          seen.add(cert.id);
          try {
            const result = await this.bindings.bind(em, { certificateId: cert.id, openid, unionid, source: 'legacy', sandbox: this.sandbox }, at);
            if (result.created) created += 1;
          } catch (err) {
            // A concurrent restore (re-follow during the batch) inserted it first: it counts there, not here.
            if (!isUniqueViolation(err)) throw err;
          }
        }
      }
    }
    await this.deps.store.set(this.checkedKey(openid), `${pending ? 'pending' : 'done'}:${unionid}`, { ttlMs: CHECKED_TTL_MS });
    if (created || pending) this.deps.logger.info({ openid: openidTail(openid), created, pending }, 'legacy bindings restored');
    return { created, pending };
  }

  /**
   * Asks WeChat for the user's unionid (the subscribe event carries none), stores it on the follower row and
   * restores. WeChat gives a unionid only to followers of an account bound to the same 微信开放平台 account as the
   * old mini program; without one there is nothing to match, and that is remembered too.
   */
  async checkAndRestore(openid: string): Promise<CheckOutcome> {
    return this.restoreWithUserInfo(openid, await this.deps.wechatApi.getUserInfo(openid));
  }

  /** checkAndRestore with WeChat's answer already at hand (the owed-restore pass asks for 100 users at once). */
  async restoreWithUserInfo(openid: string, info: WechatUserInfo): Promise<CheckOutcome> {
    if (!info.unionid) {
      await this.deps.store.set(this.checkedKey(openid), 'none', { ttlMs: CHECKED_TTL_MS });
      return { unionid: null, created: 0, pending: 0 };
    }
    const subscribedAt = info.subscribe_time ? new Date(info.subscribe_time * 1000) : null;
    await this.repo.saveUnionid(this.deps.db.manager, openid, info.unionid, { subscribed: info.subscribe === 1, subscribedAt }, this.now(), this.sandbox);
    return { unionid: info.unionid, ...await this.restore(openid, info.unionid) };
  }

  /**
   * A page of the owed-restore pass, with WeChat's answers at hand: the unionids saved in one statement, the
   * legacy rows looked up in one, and only users that have rows restored one by one; the "checked" marks (what
   * the H5 visit reads) written side by side. Returns the new bindings by openid (only those with some).
   */
  async restorePage(infos: Map<string, WechatUserInfo>): Promise<Map<string, number>> {
    const em = this.deps.db.manager;
    const known = [...infos].flatMap(([openid, info]) => (info.unionid ? [{ openid, unionid: info.unionid }] : []));
    await this.repo.saveUnionids(em, known, this.now());
    const withRows = await this.repo.unionidsWithRows(em, known.map((k) => k.unionid));
    const created = new Map<string, number>();
    for (const { openid, unionid } of known.filter((k) => withRows.has(k.unionid))) {
      const outcome = await this.restore(openid, unionid);
      if (outcome.created) created.set(openid, outcome.created);
    }
    const checked = [...infos].flatMap(([openid, info]) => (!info.unionid ? [[openid, 'none']] : withRows.has(info.unionid) ? [] : [[openid, `done:${info.unionid}`]]));
    await Promise.all(checked.map(([openid, value]) => this.deps.store.set(this.checkedKey(openid), value, { ttlMs: CHECKED_TTL_MS })));
    return created;
  }

  /**
   * For the H5 home: what was restored for this openid lately, or null. The first visit of someone never checked
   * (followed before this system, so no subscribe event came) restores too: with the unionid the OAuth login or
   * the follower row already has, from the database alone; otherwise WeChat is asked within a short budget, and
   * past it the restore job finishes the work. Later visits cost one store read and one count.
   */
  async noticeFor(openid: string, hint: { unionid?: string; isSnapshotUser?: boolean } = {}): Promise<{ restoredCount: number } | null> {
    // 朋友圈快照页 users have a virtual openid: nothing may be bound to it.
    if (hint.isSnapshotUser) return null;
    try {
      await this.restoreOnVisit(openid, hint.unionid);
    } catch (err) {
      // The page must render whatever happens here; the batch or the next visit tries again.
      this.deps.logger.warn({ openid: openidTail(openid), err: (err as Error).message }, 'legacy restore on visit failed');
    }
    const since = new Date(this.deps.clock.nowMs() - NOTICE_DAYS * DAY_MS);
    const restoredCount = await this.repo.countRestoredSince(this.deps.db.manager, openid, since, { includeSandbox: this.sandbox });
    return restoredCount ? { restoredCount } : null;
  }

  private async restoreOnVisit(openid: string, oauthUnionid?: string): Promise<void> {
    const checked = await this.deps.store.get(this.checkedKey(openid));
    if (checked === 'none' || checked?.startsWith('done:')) return;
    if (checked?.startsWith('pending:')) {
      await this.restore(openid, checked.slice('pending:'.length));
      return;
    }
    const stored = await this.repo.unionidOf(this.deps.db.manager, openid, { includeSandbox: this.sandbox });
    if (stored) {
      await this.restore(openid, stored);
      return;
    }
    if (oauthUnionid) {
      // Kept on the follower row when there is one, so the batch and the next visit need no WeChat call either.
      await this.repo.saveUnionid(this.deps.db.manager, openid, oauthUnionid, { subscribed: false, subscribedAt: null }, this.now(), this.sandbox);
      await this.restore(openid, oauthUnionid);
      return;
    }
    const work = this.checkAndRestore(openid);
    let timer: NodeJS.Timeout | undefined;
    const budget = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), VISIT_BUDGET_MS); });
    try {
      if ((await Promise.race([work, budget])) !== 'late') return;
      work.catch(() => undefined);
    } catch (err) {
      // A refusal that will not change (not a follower: 43004/40003) leaves nothing to retry.
      if (err instanceof WechatApiError && !err.retryable) {
        await this.deps.store.set(this.checkedKey(openid), 'none', { ttlMs: CHECKED_TTL_MS });
        return;
      }
      this.deps.logger.info({ openid: openidTail(openid), err: (err as Error).message }, 'legacy check on visit failed; queued');
    } finally {
      clearTimeout(timer);
    }
    await enqueueLegacyRestore(this.deps.jobs, openid);
  }

  /**
   * Restores for every follower whose unionid is already stored and has legacy rows among `unionids` (the import
   * does this for the rows it just read). Database only: no WeChat call, no message (no window is open).
   */
  async restoreKnownFollowers(unionids: string[]): Promise<{ followers: number; created: number; pending: number }> {
    const followers = await this.repo.followersWithUnionids(this.deps.db.manager, [...new Set(unionids)], { includeSandbox: this.sandbox });
    let created = 0;
    let pending = 0;
    for (const f of followers) {
      const outcome = await this.restore(f.openid, f.unionid!);
      created += outcome.created;
      pending += outcome.pending;
    }
    return { followers: followers.length, created, pending };
  }
}
