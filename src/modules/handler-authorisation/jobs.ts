import { type Deps } from '../../deps';
import { enqueueOncePerChinaDay, runPeriodically } from '../../lib/jobs/periodic';
import { HandlerDocumentService } from '../handler-documents/service';
import { HandlerService } from '../handlers/service';
import { registerReviewNoticeJobs } from './review-notices';
import { HandlerAuthorisationService } from './service';

export const HANDLER_PURGE_JOB = 'handlers.purge';
/** How often an instance asks; the store lets one ask per China day through (see scheduleHandlerPurge). */
const CHECK_EVERY_MS = 3_600_000;

/** Deletes what the retention period no longer covers: liveness attempts, verified handlers, authorisations, document submissions with their images. */
export async function purgeHandlerRecords(deps: Deps, now: Date): Promise<{ attempts: number; handlers: number; authorisations: number; submissions: number; files: number }> {
  const handlers = await new HandlerService(deps).purgeExpired(now);
  const authorisations = await new HandlerAuthorisationService(deps).purgeExpired(now);
  const documents = await new HandlerDocumentService(deps).purgeExpired(now);
  return { ...handlers, authorisations, ...documents };
}

/** The purge's handler (registered by createApp, so every instance with workers can run it). */
export function registerHandlerJobs(deps: Deps): void {
  registerReviewNoticeJobs(deps);
  deps.jobs.register(HANDLER_PURGE_JOB, async () => {
    const purged = await purgeHandlerRecords(deps, new Date(deps.clock.nowMs()));
    if (Object.values(purged).some((n) => n > 0)) deps.logger.info(purged, 'expired handler records purged');
  });
}

/** Enqueues today's purge unless an instance did already (true when this call did). */
export async function enqueueDailyPurge(deps: Deps): Promise<boolean> {
  return enqueueOncePerChinaDay(deps.store, deps.jobs, HANDLER_PURGE_JOB, deps.clock.nowMs(), 3);
}

/**
 * Enqueues the purge once a day. Every instance checks hourly (and soon after start); the shared store's counter
 * for the China day lets exactly one of them enqueue, so a restart or ten instances still purge once a day. The
 * purge is idempotent anyway: a second run finds nothing.
 */
export function scheduleHandlerPurge(deps: Deps): () => void {
  const tick = () => void enqueueDailyPurge(deps).catch((err) => deps.logger.warn({ err }, 'could not enqueue the handler purge'));
  return runPeriodically(tick, CHECK_EVERY_MS);
}
