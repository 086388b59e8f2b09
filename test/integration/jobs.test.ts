import { backend } from '../helpers/harness';
import { untilJobsEnded } from '../helpers/jobs';
import { useTestApp } from '../helpers/use-test-app';

const t = useTestApp();

async function until(check: () => boolean, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

describe(`job queue (${backend})`, () => {
  it('When a job is enqueued, then its handler runs with the payload', async () => {
    const seen: unknown[] = [];
    t.instance.deps.jobs.register('test.echo', async (payload) => {
      seen.push(payload);
    });
    await t.instance.deps.jobs.enqueue('test.echo', { n: 1 });
    await until(() => seen.length === 1);
    expect(seen).toEqual([{ n: 1 }]);
  });

  it('When a handler fails once, then the job is retried and succeeds', async () => {
    let attempts = 0;
    t.instance.deps.jobs.register('test.flaky', async () => {
      attempts += 1;
      if (attempts === 1) throw new Error('first try fails');
    });
    await t.instance.deps.jobs.enqueue('test.flaky', {}, { attempts: 3 });
    await until(() => attempts === 2, 15_000);
    expect(attempts).toBe(2);
  });

  it('When the same job id is enqueued twice while pending, then it runs once', async () => {
    const runs: string[] = [];
    t.instance.deps.jobs.register('test.once', async (payload) => {
      runs.push(String(payload.tag));
    });
    await Promise.all([
      t.instance.deps.jobs.enqueue('test.once', { tag: 'first' }, { jobId: 'once:1', delayMs: 200 }),
      t.instance.deps.jobs.enqueue('test.once', { tag: 'second' }, { jobId: 'once:1', delayMs: 200 }),
    ]);
    // A later job under another id: once it has run, a second copy of once:1 (due earlier) would have run too.
    await t.instance.deps.jobs.enqueue('test.once', { tag: 'marker' }, { jobId: 'once:marker', delayMs: 400 });
    await until(() => runs.includes('marker'));
    expect(runs.filter((tag) => tag !== 'marker')).toHaveLength(1);
  });

  it('When a job id is enqueued again after its job finished or failed for good, then it runs again', async () => {
    let runs = 0;
    t.instance.deps.jobs.register('test.again', async (payload) => {
      runs += 1;
      if (payload.fail) throw new Error('fails for good');
    });
    await t.instance.deps.jobs.enqueue('test.again', {}, { jobId: 'again:1' });
    // Enqueue again only once the queue has recorded the end (the id is free only then).
    await untilJobsEnded([t.instance.deps], 'test.again', 1);
    await t.instance.deps.jobs.enqueue('test.again', { fail: true }, { jobId: 'again:1', attempts: 1 });
    await untilJobsEnded([t.instance.deps], 'test.again', 2);
    await t.instance.deps.jobs.enqueue('test.again', {}, { jobId: 'again:1' });
    await until(() => runs === 3);
    expect(runs).toBe(3);
  });
});
