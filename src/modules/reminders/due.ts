import { chinaDay } from '../../lib/store/china-day';
import { THRESHOLDS, type Threshold } from './entities';

const DAY_MS = 86_400_000;
const CHINA_OFFSET_MS = 8 * 3_600_000;

/** China days from today to the certificate's last day (0: it expires today). */
export const chinaDaysLeft = (notAfterMs: number, nowMs: number) => chinaDay(notAfterMs) - chinaDay(nowMs);

/**
 * The one reminder a certificate is due today: the nearest threshold it is already inside. A run that missed days
 * catches up with the reminder that still fits (6 days left: the 7-day one, never the 30-day one), and the
 * unique claim per threshold makes later runs inside the same threshold send nothing.
 */
export function dueThreshold(notAfterMs: number, nowMs: number): Threshold | null {
  if (notAfterMs <= nowMs) return null;
  const left = chinaDaysLeft(notAfterMs, nowMs);
  for (const t of [...THRESHOLDS].sort((a, b) => a - b)) if (left <= t) return t;
  return null;
}

/** The start (UTC instant) of the China day `days` after today: the end of the run's search window. */
export function chinaDayStart(nowMs: number, days: number): Date {
  return new Date((chinaDay(nowMs) + days) * DAY_MS - CHINA_OFFSET_MS);
}

/** The hour (0-23) in Beijing at `nowMs`. */
export const chinaHour = (nowMs: number) => new Date(nowMs + CHINA_OFFSET_MS).getUTCHours();
