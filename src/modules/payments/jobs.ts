import { type Deps } from '../../deps';
import { NOTICE_OUTBOX_JOB, registerNoticeOutboxJob } from '../notices/jobs';
import { REFUND_FOLLOW_JOB, registerRefundJobs } from '../refunds/jobs';
import { registerOrderNoticeJobs } from './notices';
import { PaymentService } from './service';

export const ORDER_SWEEP_JOB = 'orders.sweep';
const SWEEP_EVERY_MS = 60_000;

/** The sweep's handler (registered by createApp, so every instance with workers can run it). */
export function registerPaymentJobs(deps: Deps): void {
  registerOrderNoticeJobs(deps);
  registerNoticeOutboxJob(deps);
  registerRefundJobs(deps);
  const payments = new PaymentService(deps);
  deps.jobs.register(ORDER_SWEEP_JOB, async () => {
    const { closed, credited, failed } = await payments.closeExpired(new Date(deps.clock.nowMs()));
    if (closed.length || credited.length || failed.length) deps.logger.info({ closed: closed.length, credited: credited.length, failed: failed.length }, 'expired orders settled');
  });
}

/**
 * Enqueues the sweep (and the owed-notice and refunds passes) once a minute. Every instance does it; the job id is the minute, so instances asking at
 * the same time share one job (and a repeat is harmless: every step of the sweep is idempotent).
 */
export function scheduleOrderSweep(deps: Deps): () => void {
  const timer = setInterval(() => {
    const minute = Math.floor(deps.clock.nowMs() / SWEEP_EVERY_MS);
    deps.jobs.enqueue(ORDER_SWEEP_JOB, {}, { jobId: `${ORDER_SWEEP_JOB}:${minute}`, attempts: 1 }).catch((err) => deps.logger.warn({ err }, 'could not enqueue the order sweep'));
    // The pass over notices still owed after their commit (every notice kind, not only orders').
    deps.jobs.enqueue(NOTICE_OUTBOX_JOB, {}, { jobId: `${NOTICE_OUTBOX_JOB}:${minute}`, attempts: 1 }).catch((err) => deps.logger.warn({ err }, 'could not enqueue the owed-notice pass'));
    // Refunds whose request did not get through, or that stay PROCESSING with no notify.
    deps.jobs.enqueue(REFUND_FOLLOW_JOB, {}, { jobId: `${REFUND_FOLLOW_JOB}:${minute}`, attempts: 1 }).catch((err) => deps.logger.warn({ err }, 'could not enqueue the refunds pass'));
  }, SWEEP_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
