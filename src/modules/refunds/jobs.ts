import { type Deps } from '../../deps';
import { RefundService } from './service';

export const REFUND_FOLLOW_JOB = 'refunds.follow';

/** The refunds pass (queued every minute beside the order sweep, see payments/jobs.ts). */
export function registerRefundJobs(deps: Deps): void {
  const refunds = new RefundService(deps);
  deps.jobs.register(REFUND_FOLLOW_JOB, async () => {
    const result = await refunds.followOpen(new Date(deps.clock.nowMs()));
    if (result.resubmitted || result.queried || result.failed) deps.logger.info(result, 'open refunds followed');
  });
}
