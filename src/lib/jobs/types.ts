/** Background work that must survive the request (delayed WeChat replies, later: restores, reconciliation). */
export type JobHandler = (payload: Record<string, unknown>, meta: { attempt: number; jobId: string }) => Promise<void>;

export interface EnqueueOptions {
  /** A job with the same id that is still waiting or running is not added again. */
  jobId?: string;
  delayMs?: number;
  attempts?: number;
}

export interface JobQueue {
  readonly kind: 'redis' | 'memory';
  register(name: string, handler: JobHandler): void;
  enqueue(name: string, payload: Record<string, unknown>, opts?: EnqueueOptions): Promise<void>;
  /** Begins consuming; before this, jobs only accumulate (tests and CLIs build apps without workers). */
  start(): Promise<void>;
  /** Lets running jobs finish, then stops. */
  close(): Promise<void>;
}

/** How many jobs stand in each state (the console's 任务队列 page). */
export interface JobCounts {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
}

/** A job that ran out of attempts: what an operator needs to decide whether to run it once more. */
export interface FailedJob {
  jobId: string;
  name: string;
  attemptsMade: number;
  failedReason: string;
  failedAt: Date | null;
}

/**
 * What the operator console reads from a queue, and its one write: running a failed job once more (an audited
 * console action, never the board's own retry button). Both built-in queues implement it.
 */
export interface JobQueueInspection {
  counts(): Promise<JobCounts>;
  failedJobs(limit: number): Promise<FailedJob[]>;
  /** Queues the failed job `jobId` again with its payload; false when no failed job has that id. */
  retryFailed(jobId: string): Promise<boolean>;
}

export function isInspectable(queue: JobQueue): queue is JobQueue & JobQueueInspection {
  const q = queue as Partial<JobQueueInspection>;
  return typeof q.counts === 'function' && typeof q.failedJobs === 'function' && typeof q.retryFailed === 'function';
}

export const DEFAULT_ATTEMPTS = 3;
export const backoffMs = (attempt: number) => Math.min(1000 * 2 ** (attempt - 1), 30_000);
