import { type DataSource } from 'typeorm';
import { dialectOf, utcDatetime } from '../../lib/db/sql';
import { ValidationError } from '../../lib/errors';
import { ORDER_NO_PATTERN } from './order-number';
import { ORDER_STATES, type OrderState } from './states';

/**
 * The operators' order search (issue 12): exact order number, USCC (统一社会信用代码) or openid, or an organisation-name
 * prefix — MariaDB has no ngram full-text parser, and `LIKE 'prefix%'` on an indexed column is a range scan — plus
 * a state filter and a created-date range. Organisation and USCC live on the certificates an order's lines renew; they
 * are searched in order_search_keys (search-keys.ts), one row per order and organisation. Pages are keyset pages on (created_at, id), newest first: stable while new
 * orders arrive (an offset page would shift under the operator) and as fast on page 500 as on page 1.
 * Indexes: migration 1766200000000.
 */
export type SearchKind = 'order' | 'uscc' | 'openid' | 'organisation';
export const SEARCH_KIND_LABELS: Record<SearchKind, string> = { order: '订单号', uscc: '统一社会信用代码', openid: 'openid', organisation: '单位名称（前缀）' };

export interface OrderSearchQuery {
  /** What the operator typed; empty lists every order (still filtered by state and dates). */
  q?: string;
  /** Which key `q` is; detected from its shape when absent. */
  kind?: SearchKind;
  state?: OrderState;
  method?: 'wechatpay' | 'transfer';
  /** Which time `from` and `to` bound: when the order was created (default) or paid. */
  dateField?: 'created' | 'paid';
  /** At or after. */
  from?: Date;
  /** Before (exclusive). */
  to?: Date;
  /** The `next` of the previous page. */
  after?: string | null;
  limit?: number;
}

export interface OrderListRow {
  id: number;
  orderNo: string;
  openid: string;
  state: OrderState;
  totalFen: number;
  paymentMethod: string | null;
  createdAt: Date;
  paidAt: Date | null;
  /** The organisations (and USCCs) of the certificates the order renews, in line order. */
  organisations: Array<{ name: string | null; uscc: string | null }>;
}

export interface OrderPage { kind: SearchKind | null; rows: OrderListRow[]; next: string | null }

export const MAX_PAGE_SIZE = 100;
const BROAD_PREFIX_ROWS = 5_000;
const OPENID_PATTERN = /^o[A-Za-z0-9_-]{15,63}$/;
/** 18 letters and digits: a USCC as typed (a mistyped check character still finds nothing rather than searching names). */
const USCC_SHAPE = /^[0-9A-Z]{18}$/;

/** The key a typed value is, by its shape: order numbers, USCCs and openids cannot be mistaken for one another. */
export function detectKind(q: string): SearchKind {
  const upper = q.toUpperCase();
  if (ORDER_NO_PATTERN.test(upper)) return 'order';
  if (USCC_SHAPE.test(upper)) return 'uscc';
  if (OPENID_PATTERN.test(q)) return 'openid';
  return 'organisation';
}

/** `!` escapes LIKE's wildcards: one character both MySQL and SQLite accept in ESCAPE (a backslash differs between them). */
export const likePrefix = (text: string) => `${text.replace(/[!%_]/g, '!$&')}%`;

/** A DATETIME read back: mysql2 gives a Date (timezone 'Z'); SQLite the stored UTC text. */
export function dbDate(value: unknown): Date {
  if (value instanceof Date) return value;
  const text = String(value);
  return new Date(text.includes('T') ? text : `${text.replace(' ', 'T')}Z`);
}
const dbDateOrNull = (value: unknown) => (value === null || value === undefined ? null : dbDate(value));

export function encodeCursor(createdAt: Date, id: number): string {
  return Buffer.from(`${createdAt.getTime()}.${id}`).toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: Date; id: number } {
  const m = /^(\d{1,15})\.(\d{1,12})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!m) throw new ValidationError('翻页参数无效，请重新搜索', `bad order cursor ${cursor.slice(0, 40)}`);
  return { createdAt: new Date(Number(m[1])), id: Number(m[2]) };
}

export class OrderSearch {
  /** `broadPrefixRows`: see isBroadPrefix (tests lower it to reach the newest-first path with a few orders; 0 turns the path off). */
  constructor(private readonly db: DataSource, private readonly opts: { broadPrefixRows?: number } = {}) {}

  async search(query: OrderSearchQuery): Promise<OrderPage> {
    const limit = Math.min(Math.max(query.limit ?? 20, 1), MAX_PAGE_SIZE);
    const q = (query.q ?? '').trim();
    if (query.state && !ORDER_STATES.includes(query.state)) throw new ValidationError('订单状态无效', `bad state ${query.state}`);
    const kind = q ? query.kind ?? detectKind(q) : null;
    const where: string[] = [];
    const params: unknown[] = [];
    // USCC and organisation read order_search_keys (s), whose (key, created_at, order_id) index is sorted and cut to a
    // page before any order row is read; the other searches read orders (o) through its own indexes.
    const viaKeys = kind === 'uscc' || kind === 'organisation';
    const t = viaKeys ? 's' : 'o';
    const idColumn = viaKeys ? 's.order_id' : 'o.id';
    if (kind === 'order') { where.push('o.order_no = ?'); params.push(q.toUpperCase()); }
    if (kind === 'openid') { where.push('o.openid = ?'); params.push(q); }
    if (kind === 'uscc') { where.push('s.credit_code = ?'); params.push(q.toUpperCase()); }
    if (kind === 'organisation') { where.push("s.organization LIKE ? ESCAPE '!'"); params.push(likePrefix(q)); }
    if (query.state) { where.push('o.state = ?'); params.push(query.state); }
    if (query.method) { where.push('o.payment_method = ?'); params.push(query.method); }
    // Paid-time bounds read ix_orders_paid (the dashboard's "paid today" links here); created-time ones the created indexes.
    const timeColumn = query.dateField === 'paid' ? 'o.paid_at' : `${t}.created_at`;
    if (query.from) { where.push(`${timeColumn} >= ?`); params.push(utcDatetime(query.from)); }
    if (query.to) { where.push(`${timeColumn} < ?`); params.push(utcDatetime(query.to)); }
    if (query.after) {
      const { createdAt, id } = decodeCursor(query.after);
      // Written so both engines use the (…, created_at) index as a range: created_at <= c, then the tie on id.
      where.push(`${t}.created_at <= ? AND (${t}.created_at < ? OR ${idColumn} < ?)`);
      const at = utcDatetime(createdAt);
      params.push(at, at, id);
    }
    // An order renewing certificates of two organisations that both match appears twice in s: read a little more and
    // keep the first of each (the twins are adjacent: same created_at and order_id).
    const fetch = viaKeys ? 2 * limit + 2 : limit + 1;
    const keys = kind === 'organisation' && await this.isBroadPrefix(likePrefix(q)) ? this.hint('ix_order_search_created') : '';
    const sql = `SELECT o.id, o.order_no, o.openid, o.state, o.total_fen, o.payment_method, o.created_at, o.paid_at FROM `
      + `${viaKeys ? `order_search_keys s ${keys} JOIN orders o ON o.id = s.order_id` : 'orders o'}`
      + `${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ${t}.created_at DESC, ${idColumn} DESC LIMIT ${fetch}`;
    const seen = new Set<number>();
    const raw = (await this.db.query(sql, params) as Array<Record<string, unknown>>).filter((r) => !seen.has(Number(r.id)) && seen.add(Number(r.id)));
    const more = raw.length > limit;
    const page = raw.slice(0, limit);
    const organisations = await this.organisationsOf(page.map((r) => Number(r.id)));
    const rows: OrderListRow[] = page.map((r) => ({
      id: Number(r.id), orderNo: String(r.order_no), openid: String(r.openid), state: r.state as OrderState, totalFen: Number(r.total_fen),
      paymentMethod: (r.payment_method as string | null) ?? null, createdAt: dbDate(r.created_at), paidAt: dbDateOrNull(r.paid_at),
      organisations: organisations.get(Number(r.id)) ?? [],
    }));
    const last = rows[rows.length - 1];
    return { kind, rows, next: more && last ? encodeCursor(last.createdAt, last.id) : null };
  }

  /**
   * A prefix matching at least BROAD_PREFIX_ROWS keys (counted from the index, stopping there) is read newest first:
   * about one key in 5,000 or more matches, so a page is found within a few tens of thousands of index entries,
   * where sorting every match (a third of all orders for 梅州市) would read them all. A narrower prefix is read by
   * its own range and sorted: a few thousand entries at most.
   */
  private async isBroadPrefix(pattern: string): Promise<boolean> {
    const bound = this.opts.broadPrefixRows ?? BROAD_PREFIX_ROWS;
    if (bound <= 0) return false;
    const rows: Array<{ n: unknown }> = await this.db.query(
      `SELECT COUNT(*) AS n FROM (SELECT 1 FROM order_search_keys WHERE organization LIKE ? ESCAPE '!' LIMIT ${bound}) x`, [pattern],
    );
    return Number(rows[0]?.n ?? 0) >= bound;
  }

  /** An index hint in the dialect's words (MySQL FORCE INDEX, SQLite INDEXED BY). */
  private hint(index: string): string {
    return dialectOf(this.db) === 'mysql' ? `FORCE INDEX (${index})` : `INDEXED BY ${index}`;
  }

  /** Every match, page by page, up to `max` rows (an export); `truncated` when there were more. */
  async all(query: Omit<OrderSearchQuery, 'after' | 'limit'>, max: number): Promise<{ rows: OrderListRow[]; truncated: boolean }> {
    const rows: OrderListRow[] = [];
    let after: string | null = null;
    for (;;) {
      const page: OrderPage = await this.search({ ...query, after, limit: MAX_PAGE_SIZE });
      rows.push(...page.rows);
      if (!page.next) return { rows, truncated: false };
      if (rows.length >= max) return { rows: rows.slice(0, max), truncated: true };
      after = page.next;
    }
  }

  private async organisationsOf(orderIds: number[]): Promise<Map<number, Array<{ name: string | null; uscc: string | null }>>> {
    const out = new Map<number, Array<{ name: string | null; uscc: string | null }>>();
    if (!orderIds.length) return out;
    const raw: Array<Record<string, unknown>> = await this.db.query(
      `SELECT l.order_id, c.organization, c.credit_code FROM order_lines l JOIN certificates c ON c.id = l.certificate_id
       WHERE l.order_id IN (${orderIds.map(() => '?').join(',')}) ORDER BY l.order_id, l.id`, orderIds,
    );
    for (const r of raw) {
      const list = out.get(Number(r.order_id)) ?? [];
      list.push({ name: (r.organization as string | null) ?? null, uscc: (r.credit_code as string | null) ?? null });
      out.set(Number(r.order_id), list);
    }
    return out;
  }
}
