import { type Clock, type Random, randomToken } from '../../lib/clock';
import { ATTEMPT_KEY } from '../../providers/einvoice/types';

/**
 * Our numbers for an invoice request.
 *
 * 受理单号 (acceptance number): shown to the buyer and operators, one per invoice request, stable across attempts:
 * 'FP' + Beijing date yyMMdd + 8 characters from an alphabet without look-alikes (0/O, 1/I/L), e.g. FP251203K7M2Q9XA.
 * 16 characters; 8 random characters from 30 give 6.6 × 10^11 a day, and the database's unique constraint has
 * the last word (a clash is rerun with a new draw).
 *
 * Attempt key: the provider's order number for one attempt (Nuonuo: ≤ 20 characters, unique per seller forever):
 * the acceptance number + a two-digit attempt counter, so an operator reading the provider's console sees which
 * request and which try it was. A retry of the SAME attempt (a lost answer) reuses the key; new buyer data is a new
 * attempt and a new key.
 */
const ALPHABET = '23456789ABCDEFGHJKMNPQRSTUVWXYZ';
export const ACCEPTANCE_NO = /^FP\d{6}[2-9A-HJKMNP-Z]{8}$/;
export const MAX_ATTEMPTS = 99;

export function newAcceptanceNo(clock: Clock, random: Random): string {
  const beijing = new Date(clock.nowMs() + 8 * 3600_000);
  const ymd = `${String(beijing.getUTCFullYear()).slice(-2)}${String(beijing.getUTCMonth() + 1).padStart(2, '0')}${String(beijing.getUTCDate()).padStart(2, '0')}`;
  return `FP${ymd}${randomToken(random, 8, ALPHABET)}`;
}

export function attemptKey(acceptanceNo: string, attempt: number): string {
  if (!ACCEPTANCE_NO.test(acceptanceNo)) throw new RangeError(`not an acceptance number: ${acceptanceNo}`);
  if (!Number.isInteger(attempt) || attempt < 1 || attempt > MAX_ATTEMPTS) throw new RangeError(`attempt out of range: ${attempt}`);
  const key = `${acceptanceNo}${String(attempt).padStart(2, '0')}`;
  if (!ATTEMPT_KEY.test(key)) throw new RangeError(`attempt key not usable: ${key}`);
  return key;
}
