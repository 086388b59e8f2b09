import { type Deps } from '../../src/deps';

/**
 * How many runs of job `name` have ended (done, or failed) on these instances, from the jobs_total counter both
 * queues keep. The event that proves a job did, or did not, do its work: wait for it instead of sleeping.
 */
export async function jobsEnded(instances: Array<Pick<Deps, 'metrics'>>, name: string): Promise<number> {
  let ended = 0;
  for (const { metrics } of instances) {
    for (const v of (await metrics.jobs.get()).values) if (v.labels.name === name && v.labels.result !== 'retry') ended += v.value;
  }
  return ended;
}

/** Waits until at least `count` runs of job `name` have ended on these instances (see jobsEnded). */
export async function untilJobsEnded(instances: Array<Pick<Deps, 'metrics'>>, name: string, count: number, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while ((await jobsEnded(instances, name)) < count) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} run(s) of job ${name} to end`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
