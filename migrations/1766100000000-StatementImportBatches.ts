import { type MigrationInterface, type QueryRunner, TableColumn, TableIndex } from 'typeorm';
import { col } from './helpers';

/**
 * The statement import claims its lines 500 at a time with one multi-row INSERT that skips serials already there;
 * `claim_token` (the import run's random token) tells it which rows its INSERT wrote. The order page looks up the
 * latest rejected line of an order, and a statement brings 100,000 lines at a time: index the lines by order, and
 * the transfer codes by order number.
 */
export class StatementImportBatches1766100000000 implements MigrationInterface {
  name = 'StatementImportBatches1766100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn('bank_statement_lines', new TableColumn(col.string('claim_token', 32, true)));
    await q.createIndex('bank_statement_lines', new TableIndex({ name: 'ix_statement_lines_order', columnNames: ['order_no'] }));
    await q.createIndex('transfer_codes', new TableIndex({ name: 'ix_transfer_codes_order_no', columnNames: ['order_no'] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex('transfer_codes', 'ix_transfer_codes_order_no');
    await q.dropIndex('bank_statement_lines', 'ix_statement_lines_order');
    await q.dropColumn('bank_statement_lines', 'claim_token');
  }
}
