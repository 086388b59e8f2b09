import { type Deps } from '../../deps';
import { openidTail } from '../../lib/logger';
import { CustomerServiceWindow } from '../../providers/wechat-api/cs-window';
import { WechatApiError } from '../../providers/wechat-api/errors';
import { LEGACY_RESTORE_OWED_JOB, RestoreOwedPass } from './owed';
import { LEGACY_NOTICE_JOB, LEGACY_RESTORE_JOB, LegacyRestoreService, restoredText } from './service';

/**
 * The two jobs of the returning-user restore, registered on the app's queue (src/app.ts calls this):
 * - legacy.restore: user-info → unionid on the follower row → bindings, for one user: a first H5 visit that WeChat
 *   did not answer in time. Follows are restored by legacy.restore-owed (owed.ts), 100 users per WeChat call.
 * - legacy.restore-notice: the customer-service text saying how many were restored. A job of its own, queued
 *   after the bindings are written, so a failed send is retried with its count: retrying the restore would find
 *   nothing new and say nothing.
 */
export function registerLegacyJobs(deps: Deps): void {
  const { logger } = deps;
  const service = new LegacyRestoreService(deps);
  const csWindow = new CustomerServiceWindow(deps.store, deps.clock);

  deps.jobs.register(LEGACY_RESTORE_JOB, async (payload) => {
    const openid = String(payload.openid);
    let outcome;
    try {
      outcome = await service.checkAndRestore(openid);
    } catch (err) {
      // 40003 (not an openid of this account) and the like: asking again changes nothing.
      if (err instanceof WechatApiError && !err.retryable) {
        logger.warn({ openid: openidTail(openid), errcode: err.errcode }, 'legacy restore: user info refused by WeChat; not retried');
        return;
      }
      throw err;
    }
    if (outcome.created > 0) await deps.jobs.enqueue(LEGACY_NOTICE_JOB, { openid, count: outcome.created });
  });

  const owedPass = new RestoreOwedPass(deps);
  deps.jobs.register(LEGACY_RESTORE_OWED_JOB, async () => {
    const { users, created, more } = await owedPass.runExclusive();
    if (users) logger.info({ users, created, more }, 'owed legacy restores done');
    // A burst's backlog: the next pass is a job of its own (the lock is free again once this one returns).
    if (more) await deps.jobs.enqueue(LEGACY_RESTORE_OWED_JOB, {});
  });

  deps.jobs.register(LEGACY_NOTICE_JOB, async (payload) => {
    const openid = String(payload.openid);
    const count = Number(payload.count);
    // A follow opens WeChat's window for 1 minute and 3 messages; past it the H5 home's notice is what the user sees.
    if (!(await csWindow.tryConsume(openid))) {
      logger.info({ openid: openidTail(openid), count }, 'legacy restore notice not sent: no customer-service window open');
      return;
    }
    try {
      await deps.wechatApi.sendCustomerServiceText(openid, restoredText(count));
    } catch (err) {
      // 45015 (window closed), 45047 (quota), 43004 (unfollowed meanwhile) do not change on retry.
      if (err instanceof WechatApiError && !err.retryable) {
        logger.warn({ openid: openidTail(openid), errcode: err.errcode }, 'legacy restore notice refused by WeChat; not retried');
        return;
      }
      throw err;
    }
  });
}
