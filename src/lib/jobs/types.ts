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

export const DEFAULT_ATTEMPTS = 3;
export const backoffMs = (attempt: number) => Math.min(1000 * 2 ** (attempt - 1), 30_000);
