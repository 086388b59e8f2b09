import { Queue, Worker } from 'bullmq';
import { type Logger } from '../logger';
import { type Metrics } from '../metrics';
import { backoffMs, DEFAULT_ATTEMPTS, type EnqueueOptions, type FailedJob, type JobCounts, type JobHandler, type JobQueue, type JobQueueInspection } from './types';

const QUEUE_NAME = 'jobs';

/** BullMQ on the shared Redis: jobs survive restarts and are shared by every instance. */
export class RedisJobQueue implements JobQueue, JobQueueInspection {
  readonly kind = 'redis' as const;
  private readonly handlers = new Map<string, JobHandler>();
  private readonly queue: Queue;
  private worker?: Worker;

  constructor(private readonly redisUrl: string, private readonly prefix: string, private readonly logger: Logger, private readonly metrics?: Metrics) {
    this.queue = new Queue(QUEUE_NAME, { connection: this.connection(), prefix: this.bullPrefix() });
    // Without a listener a dropped Redis connection (a restart, or closing while connecting) crashes the process.
    this.queue.on('error', (err) => this.logger.warn({ err: err.message }, 'job queue connection error'));
  }

  private bullPrefix() {
    return `${this.prefix}bull`;
  }

  private connection() {
    const u = new URL(this.redisUrl);
    return {
      host: u.hostname,
      port: Number(u.port || 6379),
      db: Number(u.pathname.slice(1) || 0),
      username: u.username || undefined,
      password: u.password ? decodeURIComponent(u.password) : undefined,
      tls: u.protocol === 'rediss:' ? {} : undefined,
      maxRetriesPerRequest: null,
    };
  }

  register(name: string, handler: JobHandler) {
    this.handlers.set(name, handler);
  }

  async enqueue(name: string, payload: Record<string, unknown>, opts: EnqueueOptions = {}) {
    // BullMQ refuses ':' in custom ids.
    const jobId = opts.jobId?.replace(/:/g, '_');
    if (jobId) {
      // BullMQ ignores an id it still remembers, including finished jobs kept for inspection; our contract
      // dedupes only against waiting or running jobs, so a finished one must not block new work for its id.
      const previous = await this.queue.getJob(jobId);
      const state = previous ? await previous.getState() : undefined;
      if (state === 'completed' || state === 'failed') await previous!.remove().catch(() => undefined);
    }
    await this.queue.add(name, payload, {
      jobId,
      delay: opts.delayMs,
      attempts: opts.attempts ?? DEFAULT_ATTEMPTS,
      backoff: { type: 'exponential', delay: backoffMs(1) },
      removeOnComplete: { age: 3600, count: 1000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    });
  }

  async start() {
    if (this.worker) return;
    this.worker = new Worker(
      QUEUE_NAME,
      async (job) => {
        const handler = this.handlers.get(job.name);
        if (!handler) throw new Error(`no handler registered for job ${job.name}`);
        await handler(job.data as Record<string, unknown>, { attempt: job.attemptsMade + 1, jobId: String(job.id) });
      },
      { connection: this.connection(), prefix: this.bullPrefix(), concurrency: 8 },
    );
    this.worker.on('completed', (job) => this.metrics?.jobs.inc({ name: job.name, result: 'ok' }));
    this.worker.on('failed', (job, err) => {
      this.metrics?.jobs.inc({ name: job?.name ?? 'unknown', result: 'failed' });
      this.logger.warn({ err, job: job?.name, jobId: job?.id, attempt: job?.attemptsMade }, 'job failed');
    });
    this.worker.on('error', (err) => this.logger.error({ err }, 'job worker error'));
  }

  /** The BullMQ queue itself, for the console's read-only board (bull-board wraps it in readOnlyMode). */
  get bullQueue(): Queue {
    return this.queue;
  }

  async counts(): Promise<JobCounts> {
    const c = await this.queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized', 'waiting-children');
    return { waiting: (c.waiting ?? 0) + (c.prioritized ?? 0) + (c['waiting-children'] ?? 0), active: c.active ?? 0, delayed: c.delayed ?? 0, failed: c.failed ?? 0 };
  }

  async failedJobs(limit: number): Promise<FailedJob[]> {
    const jobs = await this.queue.getFailed(0, Math.max(0, limit - 1));
    return jobs.filter((j) => j).map((j) => ({
      jobId: String(j.id), name: j.name, attemptsMade: j.attemptsMade, failedReason: j.failedReason ?? '', failedAt: j.finishedOn ? new Date(j.finishedOn) : null,
    }));
  }

  async retryFailed(jobId: string): Promise<boolean> {
    const job = await this.queue.getJob(jobId);
    if (!job || (await job.getState()) !== 'failed') return false;
    // BullMQ's retry moves the job back to waiting with its payload and resets its attempts.
    await job.retry('failed');
    return true;
  }

  async close() {
    // BullMQ drops its error listeners on close; a connection still initialising would then reject into an
    // unhandled 'error' event and crash the process. Let initialisation settle first.
    await Promise.all([this.queue.waitUntilReady(), this.worker?.waitUntilReady()].map((p) => p?.catch(() => undefined)));
    await this.worker?.close();
    await this.queue.close();
  }
}
