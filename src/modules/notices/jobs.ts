import { type Deps } from '../../deps';
import { NoticeOutbox } from './outbox';

export const NOTICE_OUTBOX_JOB = 'notices.outbox';

/** The periodic pass over owed notices (queued every minute beside the order sweep, see payments/jobs.ts). */
export function registerNoticeOutboxJob(deps: Deps): void {
  const outbox = new NoticeOutbox(deps);
  deps.jobs.register(NOTICE_OUTBOX_JOB, async () => {
    const { queued } = await outbox.queueOwed(new Date(deps.clock.nowMs()));
    if (queued) deps.logger.info({ queued }, 'owed notices queued again');
  });
}
