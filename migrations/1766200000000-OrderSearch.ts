import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';
import { col, createPortableTable } from './helpers';

/**
 * The console's order search and dashboard (issue 12), fast at a million orders.
 *
 * `order_search_keys`: one row per order and organisation it renews a certificate of, with the order's created_at.
 * Organisation and USCC live on certificates, two joins away from an order; a prefix like 梅州市嘉应 matches
 * thousands of orders, and reaching each through order_lines and orders to sort them by time costs two random row
 * reads per match (measured: p95 1.1 s at 1M orders). Here the range on (organization, created_at, order_id) is read
 * from the index alone, sorted, and only the page's 20 orders are read. OrderRepository.insert writes the rows in the
 * order's own transaction (certificates never change their organisation); the backfill below covers earlier orders.
 * A broad prefix (梅州市: a third of all orders) is read the other way, newest first on (created_at, order_id,
 * organization) until a page has matched (search.ts chooses by counting matches up to a bound).
 *
 * Indexes (SEARCH_INDEXES, which the benches drop and re-add to measure the baseline):
 * - orders by (created_at) and (state, created_at): the newest-first list and its state filter, in keyset pages on
 *   (created_at, id) — InnoDB and SQLite keep the primary key in every secondary index, so id needs no column;
 * - orders by (paid_at, paid_amount_fen): "paid today" and revenue per week read the index alone;
 * - orders by (state, payment_method, expires_at): "transfers waiting", from the index alone;
 * - certificates by (status, not_after, usage): "certificates expiring in 30 days", from the index alone;
 * - bank statement lines by (decision, imported_at) (the exception count); by order_no (the order's timeline) comes
 *   from 1766100000000.
 */
export const SEARCH_INDEXES: Array<[string, string, string[]]> = [
  ['order_search_keys', 'ix_order_search_org', ['organization', 'created_at', 'order_id']],
  ['order_search_keys', 'ix_order_search_uscc', ['credit_code', 'created_at', 'order_id']],
  ['order_search_keys', 'ix_order_search_created', ['created_at', 'order_id', 'organization']],
  ['orders', 'ix_orders_created', ['created_at']],
  ['orders', 'ix_orders_state_created', ['state', 'created_at']],
  ['orders', 'ix_orders_paid', ['paid_at', 'paid_amount_fen']],
  ['orders', 'ix_orders_state_method_expires', ['state', 'payment_method', 'expires_at']],
  ['certificates', 'ix_certificates_status_not_after', ['status', 'not_after', 'usage']],
  ['bank_statement_lines', 'ix_statement_lines_decision', ['decision', 'imported_at']],
];

export async function createSearchIndexes(q: QueryRunner): Promise<void> {
  for (const [table, name, columnNames] of SEARCH_INDEXES) await q.createIndex(table, new TableIndex({ name, columnNames }));
}

export async function dropSearchIndexes(q: QueryRunner): Promise<void> {
  for (const [table, name] of [...SEARCH_INDEXES].reverse()) await q.dropIndex(table, name);
}

/** Fills order_search_keys for the orders that exist (the migration's backfill; the benches after a bulk load). */
export async function backfillOrderSearchKeys(q: QueryRunner): Promise<void> {
  await q.query(`INSERT INTO order_search_keys (order_id, created_at, organization, credit_code)
    SELECT DISTINCT l.order_id, o.created_at, c.organization, c.credit_code FROM order_lines l JOIN orders o ON o.id = l.order_id JOIN certificates c ON c.id = l.certificate_id`);
}

export class OrderSearch1766200000000 implements MigrationInterface {
  name = 'OrderSearch1766200000000';

  async up(q: QueryRunner): Promise<void> {
    await createPortableTable(q, new Table({
      name: 'order_search_keys',
      columns: [col.id(), col.int('order_id'), col.time('created_at'), col.string('organization', 200, true), col.string('credit_code', 32, true)],
      indices: [{ name: 'ix_order_search_order', columnNames: ['order_id'] }],
    }));
    await backfillOrderSearchKeys(q);
    await createSearchIndexes(q);
  }

  async down(q: QueryRunner): Promise<void> {
    await dropSearchIndexes(q);
    await q.dropTable('order_search_keys');
  }
}
