import { type Logger } from '../logger';
import { type Metrics } from '../metrics';
import { backoffMs, DEFAULT_ATTEMPTS, type EnqueueOptions, type FailedJob, type JobCounts, type JobHandler, type JobQueue, type JobQueueInspection } from './types';

/** Failed-for-good jobs kept for the console (the queue lives in this process only, so do they). */
const KEPT_FAILED = 200;

interface Pending {
  name: string;
  payload: Record<string, unknown>;
  jobId: string;
  attempts: number;
  delayMs: number;
}

/** In-process queue for the embedded default: same contract as the Redis queue, lost on restart. */
export class MemoryJobQueue implements JobQueue, JobQueueInspection {
  readonly kind = 'memory' as const;
  private readonly handlers = new Map<string, JobHandler>();
  private readonly active = new Set<string>();
  private readonly running = new Set<Promise<void>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private backlog: Pending[] = [];
  private started = false;
  private closed = false;
  private seq = 0;
  /** Scheduled but not yet running, by delay: waiting (no delay left) or delayed. */
  private readonly scheduled = new Map<NodeJS.Timeout, { job: Pending; dueAt: number }>();
  private readonly failed: Array<FailedJob & { payload: Record<string, unknown>; attempts: number }> = [];
  /** Jobs that ran out of attempts (a command reports them before it exits). */
  failedForGood = 0;

  constructor(private readonly logger: Logger, private readonly metrics?: Metrics) {}

  register(name: string, handler: JobHandler) {
    this.handlers.set(name, handler);
  }

  async enqueue(name: string, payload: Record<string, unknown>, opts: EnqueueOptions = {}) {
    const jobId = opts.jobId ?? `${name}:${++this.seq}`;
    if (this.active.has(jobId) || this.closed) return;
    this.active.add(jobId);
    const job = { name, payload, jobId, attempts: opts.attempts ?? DEFAULT_ATTEMPTS, delayMs: opts.delayMs ?? 0 };
    if (this.started) this.schedule(job, 1, job.delayMs);
    else this.backlog.push(job);
  }

  async start() {
    this.started = true;
    const backlog = this.backlog;
    this.backlog = [];
    for (const job of backlog) this.schedule(job, 1, job.delayMs);
  }

  private schedule(job: Pending, attempt: number, delayMs: number) {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.scheduled.delete(timer);
      const run = this.run(job, attempt).finally(() => this.running.delete(run));
      this.running.add(run);
    }, delayMs);
    this.timers.add(timer);
    this.scheduled.set(timer, { job, dueAt: Date.now() + delayMs });
  }

  private async run(job: Pending, attempt: number) {
    const handler = this.handlers.get(job.name);
    try {
      if (!handler) throw new Error(`no handler registered for job ${job.name}`);
      await handler(job.payload, { attempt, jobId: job.jobId });
      this.metrics?.jobs.inc({ name: job.name, result: 'ok' });
      this.active.delete(job.jobId);
    } catch (err) {
      const last = attempt >= job.attempts || this.closed;
      this.metrics?.jobs.inc({ name: job.name, result: last ? 'failed' : 'retry' });
      this.logger.warn({ err, job: job.name, jobId: job.jobId, attempt }, last ? 'job failed for good' : 'job failed, will retry');
      if (last) {
        this.active.delete(job.jobId);
        this.failedForGood++;
        this.failed.unshift({ jobId: job.jobId, name: job.name, attemptsMade: attempt, failedReason: (err as Error).message ?? String(err), failedAt: new Date(), payload: job.payload, attempts: job.attempts });
        this.failed.splice(KEPT_FAILED);
      }
      else this.schedule(job, attempt + 1, backoffMs(attempt));
    }
  }

  /**
   * Waits until nothing is waiting, scheduled or running, at most `timeoutMs`; returns how many jobs were left.
   * A command on the embedded default calls this before it exits: its queue dies with the process.
   */
  async idle(timeoutMs: number): Promise<number> {
    const until = Date.now() + timeoutMs;
    while ((this.timers.size || this.running.size) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    return this.timers.size + this.running.size + this.backlog.length;
  }

  async counts(): Promise<JobCounts> {
    const now = Date.now();
    let delayed = 0;
    for (const { dueAt } of this.scheduled.values()) if (dueAt > now) delayed++;
    return { waiting: this.backlog.length + this.scheduled.size - delayed, active: this.running.size, delayed, failed: this.failed.length };
  }

  async failedJobs(limit: number): Promise<FailedJob[]> {
    return this.failed.slice(0, limit).map(({ payload: _p, attempts: _a, ...f }) => f);
  }

  async retryFailed(jobId: string): Promise<boolean> {
    const at = this.failed.findIndex((f) => f.jobId === jobId);
    if (at < 0) return false;
    const [f] = this.failed.splice(at, 1);
    await this.enqueue(f!.name, f!.payload, { jobId: f!.jobId, attempts: f!.attempts });
    return true;
  }

  async close() {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await Promise.allSettled([...this.running]);
  }
}
