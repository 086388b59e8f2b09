import { type Deps } from '../../deps';
import { enqueueOncePerChinaDay, runPeriodically } from '../../lib/jobs/periodic';
import { chinaHour } from './due';
import { ExpiryReminderService } from './service';

export const EXPIRY_REMINDERS_JOB = 'reminders.daily';
const CHECK_EVERY_MS = 10 * 60_000;

export function registerReminderJobs(deps: Deps): void {
  const service = new ExpiryReminderService(deps);
  deps.jobs.register(EXPIRY_REMINDERS_JOB, async () => {
    await service.runDaily();
  });
}

/**
 * Every 10 minutes: once the China hour reaches REMINDER_HOUR, the day's run is queued once (the shared store's
 * counter picks one instance; the job id holds the day). A run that failed part-way leaves its rows claimed, and the
 * next day's run retries them; a day the process was down is caught up by the next run (see dueThreshold).
 */
export function scheduleReminderJobs(deps: Deps): () => void {
  const channels = new ExpiryReminderService(deps).channels();
  if (!channels.template) deps.logger.warn('WECHAT_TEMPLATE_EXPIRY_REMINDER is not set: expiry reminders are not sent as WeChat template messages');
  if (!channels.subscribe) deps.logger.info('WECHAT_SUBSCRIBE_TEMPLATE_EXPIRY is not set: no 订阅通知 opt-in is offered or sent');
  if (!channels.sms) deps.logger.warn('SMS_SDK_APP_ID is not set: expiry reminders are not sent by SMS');
  deps.logger.info({ hour: deps.config.reminders.hour, sendsPerSecond: deps.config.reminders.sendsPerSecond, ...channels }, 'expiry reminders scheduled (China time)');
  const tick = () => {
    const now = deps.clock.nowMs();
    if (chinaHour(now) < deps.config.reminders.hour) return;
    void enqueueOncePerChinaDay(deps.store, deps.jobs, EXPIRY_REMINDERS_JOB, now, 3)
      .catch((err) => deps.logger.warn({ err }, 'could not enqueue the expiry reminders run'));
  };
  return runPeriodically(tick, CHECK_EVERY_MS);
}
