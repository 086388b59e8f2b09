import { type KeyValueStore } from './types';

const DAY_MS = 86_400_000;
/** Asia/Shanghai has no daylight saving: UTC+8 all year. */
const CHINA_OFFSET_MS = 8 * 3_600_000;

/** The China (UTC+8) calendar day `nowMs` falls in, as a day number: daily limits reset at Beijing midnight. */
export function chinaDay(nowMs: number): number {
  return Math.floor((nowMs + CHINA_OFFSET_MS) / DAY_MS);
}

/**
 * Counts one more for today (China day) under `keyOf(day)`, atomically in the shared store, so parallel requests
 * on any instance see one count. The key lives until an hour past that day's end.
 */
export function incrForChinaDay(store: KeyValueStore, keyOf: (day: number) => string, nowMs: number): Promise<number> {
  const day = chinaDay(nowMs);
  const untilDayEnd = (day + 1) * DAY_MS - CHINA_OFFSET_MS - nowMs;
  return store.incr(keyOf(day), untilDayEnd + 3_600_000);
}
