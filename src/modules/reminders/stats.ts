import { type DataSource } from 'typeorm';
import { type Clock } from '../../lib/clock';
import { utcDatetime } from '../../lib/db/sql';
import { chinaDayStart } from './due';

export interface ReminderCounts {
  /** Rows settled today (China day) by channel and state (sent / unreachable / skipped). */
  byChannel: Array<{ channel: string; state: string; count: number }>;
  /** Of today's template sends: WeChat's TEMPLATESENDJOBFINISH status, or 'pending' while none came. */
  templateOutcomes: Array<{ status: string; count: number }>;
  /** Claimed and not settled (a retryable failure or a run in progress). */
  open: number;
}

/**
 * What a dashboard shows about 到期提醒: today's reminders by channel and outcome. Read-only, two grouped queries
 * over the settled_at index; the console (another module) calls this.
 */
export class ReminderStats {
  constructor(private readonly db: DataSource, private readonly clock: Clock) {}

  async today(): Promise<ReminderCounts> {
    const now = this.clock.nowMs();
    const from = utcDatetime(chinaDayStart(now, 0));
    const to = utcDatetime(chinaDayStart(now, 1));
    const byChannel = await this.db.query(
      'SELECT COALESCE(channel, \'none\') AS channel, state, COUNT(*) AS n FROM expiry_reminders WHERE settled_at >= ? AND settled_at < ? GROUP BY channel, state', [from, to],
    ) as Array<{ channel: string; state: string; n: number | string }>;
    const outcomes = await this.db.query(
      'SELECT COALESCE(t.status, \'pending\') AS status, COUNT(*) AS n FROM expiry_reminders r LEFT JOIN template_send_reports t ON t.msgid = r.msgid '
      + 'WHERE r.channel = \'template\' AND r.settled_at >= ? AND r.settled_at < ? GROUP BY COALESCE(t.status, \'pending\')', [from, to],
    ) as Array<{ status: string; n: number | string }>;
    const [open] = await this.db.query('SELECT COUNT(*) AS n FROM expiry_reminders WHERE state = \'claimed\'') as Array<{ n: number | string }>;
    return {
      byChannel: byChannel.map((r) => ({ channel: r.channel, state: r.state, count: Number(r.n) })),
      templateOutcomes: outcomes.map((r) => ({ status: r.status, count: Number(r.n) })),
      open: Number(open?.n ?? 0),
    };
  }

  /** One reminder's delivery as a page or the console shows it. */
  async outcomeOf(reminderId: number): Promise<{ state: string; channel: string | null; msgid: string | null; report: string | null } | null> {
    const [row] = await this.db.query(
      'SELECT r.state, r.channel, r.msgid, t.status AS report FROM expiry_reminders r LEFT JOIN template_send_reports t ON t.msgid = r.msgid WHERE r.id = ?', [reminderId],
    ) as Array<{ state: string; channel: string | null; msgid: string | null; report: string | null }>;
    return row ?? null;
  }
}
