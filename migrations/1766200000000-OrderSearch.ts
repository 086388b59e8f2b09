import { type MigrationInterface, type QueryRunner, TableIndex } from 'typeorm';

/**
 * Indexes for the console's order search and dashboard (issue 12), so both stay fast at a million orders:
 * - orders by (created_at) and (state, created_at): the newest-first list and its state filter, read in keyset pages
 *   ordered by (created_at, id) — InnoDB and SQLite keep the primary key in every secondary index, so id needs no column;
 * - orders by (paid_at, paid_amount_fen): "paid today" and revenue per week read the index alone (covering);
 * - certificates by credit_code (USCC, exact) and organization (a LIKE 'prefix%' range: MariaDB has no ngram parser,
 *   and a prefix is what operators type), then order_lines.certificate_id (exists) leads to the orders;
 * - certificates by (status, not_after): "certificates expiring in 30 days";
 * - bank statement lines by order_no (the order's timeline) and by decision (the exception count).
 */
const INDEXES: Array<[string, string, string[]]> = [
  ['orders', 'ix_orders_created', ['created_at']],
  ['orders', 'ix_orders_state_created', ['state', 'created_at']],
  ['orders', 'ix_orders_paid', ['paid_at', 'paid_amount_fen']],
  ['certificates', 'ix_certificates_credit_code', ['credit_code']],
  ['certificates', 'ix_certificates_organization', ['organization']],
  ['certificates', 'ix_certificates_status_not_after', ['status', 'not_after']],
  ['bank_statement_lines', 'ix_statement_lines_order', ['order_no']],
  ['bank_statement_lines', 'ix_statement_lines_decision', ['decision', 'imported_at']],
];

export class OrderSearch1766200000000 implements MigrationInterface {
  name = 'OrderSearch1766200000000';

  async up(q: QueryRunner): Promise<void> {
    for (const [table, name, columnNames] of INDEXES) await q.createIndex(table, new TableIndex({ name, columnNames }));
  }

  async down(q: QueryRunner): Promise<void> {
    for (const [table, name] of [...INDEXES].reverse()) await q.dropIndex(table, name);
  }
}
