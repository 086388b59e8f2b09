import { chinaDay } from '../store/china-day';
import { type KeyValueStore } from '../store/types';
import { type JobQueue } from './types';

/**
 * Calls `tick` once soon after start (so a restart does not wait a whole period) and then every `everyMs`. The
 * timers are unref'd: a schedule never keeps a process (a CLI, a test) alive. Returns the function that stops it.
 */
export function runPeriodically(tick: () => void, everyMs: number, firstAfterMs = 60_000): () => void {
  const first = setTimeout(tick, firstAfterMs);
  const timer = setInterval(tick, everyMs);
  first.unref();
  timer.unref();
  return () => {
    clearTimeout(first);
    clearInterval(timer);
  };
}

/**
 * Enqueues `name` once per China day across every instance: the shared store's counter for the day lets exactly one
 * caller through (a restart or ten instances still enqueue once), and the day's job id stops a duplicate in the
 * queue. True when this call enqueued.
 */
export async function enqueueOncePerChinaDay(store: KeyValueStore, jobs: JobQueue, name: string, nowMs: number, attempts?: number): Promise<boolean> {
  const day = chinaDay(nowMs);
  if ((await store.incr(`${name}:day:${day}`, 2 * 86_400_000)) !== 1) return false;
  await jobs.enqueue(name, {}, { jobId: `${name}:${day}`, ...(attempts ? { attempts } : {}) });
  return true;
}
