import { type Deps } from '../../deps';
import { WechatPayBillService } from './service';

export const BILL_CHECK_JOB = 'wechatpay.bill-check';
const PASS_EVERY_MS = 10 * 60_000;

/** One day's check. A failure (bill not ready yet, WeChat Pay unreachable) is retried by the next pass. */
export function registerBillJobs(deps: Deps): void {
  const bills = new WechatPayBillService(deps);
  deps.jobs.register(BILL_CHECK_JOB, async (payload) => {
    const day = String(payload.day);
    const { run } = await bills.check(day);
    deps.logger.info({ day, state: run.state, rows: run.billRows, openFindings: run.findings }, 'wechatpay trade bill checked');
  });
}

/**
 * Every 10 minutes each instance looks for days not yet checked (yesterday once it is past 10:00 in Beijing, when
 * WeChat Pay has made the bill, and the two days before, in case a pass failed) and enqueues them. The job id holds the
 * 10-minute slot, so instances share one job per slot, and a failed day is tried again in the next slot.
 */
export function scheduleBillChecks(deps: Deps): () => void {
  const bills = new WechatPayBillService(deps);
  const pass = async () => {
    const slot = Math.floor(deps.clock.nowMs() / PASS_EVERY_MS);
    for (const day of await bills.dueDays()) {
      await deps.jobs.enqueue(BILL_CHECK_JOB, { day }, { jobId: `${BILL_CHECK_JOB}:${day}:${slot}`, attempts: 1 });
    }
  };
  const timer = setInterval(() => pass().catch((err) => deps.logger.warn({ err }, 'could not enqueue the trade bill check')), PASS_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
