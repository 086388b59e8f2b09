import { type MigrationInterface, type QueryRunner, Table } from 'typeorm';
import { col, createPortableTable } from './helpers';

/**
 * The finance pages of the operator console: each statement upload with its per-line report (the history), and what
 * an operator decided for a transfer line the matcher could not credit (credited by hand after four-eyes, or money
 * to send back to the payer, with the instructions and whether it went).
 */
export class FinanceConsole1766300000000 implements MigrationInterface {
  name = 'FinanceConsole1766300000000';

  async up(q: QueryRunner): Promise<void> {
    // A report holds one line per statement line: a 100,000-line file needs more than TEXT's 64 KB on MySQL.
    const report = q.connection.options.type === 'mysql' ? { name: 'report', type: 'mediumtext', isNullable: false } : col.text('report');
    await createPortableTable(q, new Table({
      name: 'statement_imports',
      columns: [
        col.id(), col.string('file_name', 200), col.int('file_bytes'), col.int('operator_id'), col.string('operator_name', 64),
        col.int('credited', false, 0), col.int('exceptions', false, 0), col.int('skipped', false, 0), col.int('rejected', false, 0),
        report, col.time('created_at'),
      ],
      indices: [{ name: 'idx_statement_imports_created', columnNames: ['created_at'] }],
    }));
    await createPortableTable(q, new Table({
      name: 'statement_line_resolutions',
      columns: [
        col.id(), col.int('statement_line_id'), col.string('bank_serial', 64), col.string('state', 16), col.string('order_no', 32, true), col.string('reason', 200),
        col.string('refund_account_name', 200, true), col.string('refund_account', 64, true), col.string('refund_bank', 200, true), col.string('refund_note', 200, true),
        col.int('proposal_id', true), col.string('decided_by', 64), col.time('created_at'),
        col.string('refund_reference', 64, true), col.string('refunded_by', 64, true), col.time('refunded_at', true),
      ],
      uniques: [{ name: 'uq_statement_line_resolutions_line', columnNames: ['statement_line_id'] }],
    }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('statement_line_resolutions');
    await q.dropTable('statement_imports');
  }
}
