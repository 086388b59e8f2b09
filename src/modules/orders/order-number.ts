import { type Random, randomToken } from '../../lib/clock';

/**
 * Order numbers are WeChat Pay's out_trade_no ([A-Za-z0-9_-], 6–32 characters) and are shown to handlers and
 * read over the phone to support. A Beijing-date prefix lets people and operators place an order in time; 16
 * random characters from a 32-letter alphabet without 0/O/1/I (80 bits) make numbers unguessable and not
 * sequential, so knowing one order number tells nothing about another. Shape: R20261126XXXXXXXXXXXXXXXX (25).
 */
export const ORDER_NO_ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ';
export const ORDER_NO_PATTERN = /^R\d{8}[2-9A-HJ-NP-Z]{16}$/;
/** What WeChat Pay accepts as out_trade_no; every number we make satisfies it. */
export const OUT_TRADE_NO_PATTERN = /^[A-Za-z0-9_-]{6,32}$/;

export function newOrderNumber(random: Random, at: Date): string {
  return `R${beijingDate(at)}${randomToken(random, 16, ORDER_NO_ALPHABET)}`;
}

/** YYYYMMDD in Asia/Shanghai (UTC+8, no daylight saving). */
function beijingDate(at: Date): string {
  return new Date(at.getTime() + 8 * 3_600_000).toISOString().slice(0, 10).replace(/-/g, '');
}
