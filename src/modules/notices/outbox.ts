import { EntitySchema, type EntityManager, LessThan } from 'typeorm';
import { type Deps } from '../../deps';
import { dialectOf, utcDatetime } from '../../lib/db/sql';

/**
 * Notices owed after a commit (订单支付成功, 汇款未通过, 审核结果通知). A job queued after the commit is lost when
 * the process dies between the commit and the enqueue, and queueing again on every repeat (a payment notify
 * answered `already`, the sweep, reconcile) sends the message again once the first job has finished. So the
 * notice is recorded in the very transaction that makes it owed (one row per notice key), the job sends it only
 * while the row says `owed` and then records how it ended, and whoever finds it still owed — a repeat of the
 * credit, or the periodic pass — queues it again.
 */
export type OutboxState = 'owed' | 'sent' | 'not-following' | 'refused' | 'skipped' | 'expired';
/** How a delivery attempt ended for good (a retryable failure throws instead, and the row stays owed). */
export type NoticeOutcome = Exclude<OutboxState, 'owed' | 'expired'>;

export interface NoticeOutboxRow {
  id: number;
  /** Unique per notice: the base of the template message's client_msg_id and of the job id. */
  noticeKey: string;
  /** The job that sends it, and what that job is given (JSON). */
  job: string;
  payload: string;
  state: OutboxState;
  createdAt: Date;
  settledAt: Date | null;
}

export const NoticeOutboxEntity = new EntitySchema<NoticeOutboxRow>({
  name: 'NoticeOutbox',
  tableName: 'notice_outbox',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    noticeKey: { name: 'notice_key', type: String, length: 96 },
    job: { type: String, length: 64 },
    payload: { type: 'text' },
    state: { type: String, length: 16 },
    createdAt: { name: 'created_at', type: Date },
    settledAt: { name: 'settled_at', type: Date, nullable: true },
  },
  uniques: [{ name: 'uq_notice_outbox_key', columns: ['noticeKey'] }],
  indices: [{ name: 'idx_notice_outbox_state', columns: ['state', 'createdAt'] }],
});

export interface OwedNotice { key: string; job: string; payload: Record<string, unknown> }

/** The periodic pass leaves a notice this young to the enqueue right after its commit. */
const PASS_MIN_AGE_MS = 60_000;
/** A notice still owed after this is not sent any more (a 支付成功 days late misleads); the pages show the state. */
const PASS_MAX_AGE_MS = 3 * 86_400_000;

export class NoticeOutbox {
  constructor(private readonly deps: Pick<Deps, 'db' | 'jobs' | 'logger' | 'clock'>) {}

  /** Inside the transaction that makes the notice owed: it rolls back with it, and a repeat keeps the first row. */
  static async record(em: EntityManager, notice: OwedNotice, at: Date): Promise<void> {
    await em.createQueryBuilder().insert().into(NoticeOutboxEntity)
      .values({ noticeKey: notice.key.slice(0, 96), job: notice.job, payload: JSON.stringify(notice.payload), state: 'owed', createdAt: at, settledAt: null })
      .orIgnore().updateEntity(false).execute();
  }

  /**
   * record() for many notices in one statement (a statement import's chunk). Plain SQL: TypeORM's query builder
   * spends more on hundreds of parameters than the database spends on the rows.
   */
  static async recordMany(em: EntityManager, notices: OwedNotice[], at: Date): Promise<void> {
    if (!notices.length) return;
    const mysql = dialectOf(em) === 'mysql';
    await em.query(
      `INSERT INTO notice_outbox (notice_key, job, payload, state, created_at) VALUES ${notices.map(() => "(?, ?, ?, 'owed', ?)").join(',')} ` +
      (mysql ? 'ON DUPLICATE KEY UPDATE id = id' : 'ON CONFLICT (notice_key) DO NOTHING'),
      notices.flatMap((n) => [n.key.slice(0, 96), n.job, JSON.stringify(n.payload), utcDatetime(at)]),
    );
  }

  enqueue(notice: OwedNotice): Promise<void> {
    return enqueueOwedNotice(this.deps, notice);
  }

  /** Queues the notice again only while it is owed (a repeated credit must not send a delivered message twice). */
  async enqueueIfOwed(key: string): Promise<boolean> {
    const row = await this.repo().findOne({ where: { noticeKey: key, state: 'owed' } });
    if (!row) return false;
    await this.enqueue(toNotice(row));
    return true;
  }

  /**
   * The job's side: runs `send` only while the notice is owed, then records how it ended. A job with no row
   * (queued before the outbox existed) still sends; client_msg_id keeps WeChat from showing it twice.
   */
  async deliver(key: string, send: () => Promise<NoticeOutcome>): Promise<void> {
    const row = await this.repo().findOne({ where: { noticeKey: key } });
    if (row && row.state !== 'owed') return;
    const outcome = await send();
    if (row) await this.repo().update({ noticeKey: key, state: 'owed' }, { state: outcome, settledAt: new Date(this.deps.clock.nowMs()) });
  }

  stateOf(key: string): Promise<OutboxState | null> {
    return this.repo().findOne({ where: { noticeKey: key } }).then((row) => row?.state ?? null);
  }

  /**
   * The periodic pass (every minute, with the order sweep): queues every notice still owed a minute after it was
   * recorded — its first enqueue never happened (a crash after the commit) or its job failed for good. One that
   * stayed owed for days is given up (`expired`, logged).
   */
  async queueOwed(now: Date, limit = 200): Promise<{ queued: number; expired: number }> {
    const repo = this.repo();
    const expired = await repo.update({ state: 'owed', createdAt: LessThan(new Date(now.getTime() - PASS_MAX_AGE_MS)) }, { state: 'expired', settledAt: now });
    if (expired.affected) this.deps.logger.warn({ expired: expired.affected }, 'owed notices given up after 3 days');
    const rows = await repo.find({ where: { state: 'owed', createdAt: LessThan(new Date(now.getTime() - PASS_MIN_AGE_MS)) }, order: { id: 'ASC' }, take: limit });
    let queued = 0;
    for (const row of rows) {
      try {
        await this.enqueue(toNotice(row));
        queued++;
      } catch (err) {
        this.deps.logger.warn({ err, noticeKey: row.noticeKey }, 'could not queue an owed notice; the next pass tries again');
      }
    }
    return { queued, expired: expired.affected ?? 0 };
  }

  private repo() {
    return this.deps.db.getRepository(NoticeOutboxEntity);
  }
}

/** After the commit: the queue's job id is the notice key, so a job still waiting or running is not doubled. */
export function enqueueOwedNotice(deps: Pick<Deps, 'jobs'>, notice: OwedNotice): Promise<void> {
  return deps.jobs.enqueue(notice.job, { ...notice.payload, noticeKey: notice.key }, { jobId: `${notice.job}:${notice.key}` });
}

function toNotice(row: NoticeOutboxRow): OwedNotice {
  return { key: row.noticeKey, job: row.job, payload: JSON.parse(row.payload) as Record<string, unknown> };
}

/** The job's notice key: the one it was queued with, or (a job queued before the outbox) the one it would have had. */
export const noticeKeyOf = (payload: Record<string, unknown>, fallback: string): string =>
  typeof payload.noticeKey === 'string' && payload.noticeKey ? payload.noticeKey : fallback;
