import { type MigrationInterface, type QueryRunner, Table } from 'typeorm';
import { col, createPortableTable } from './helpers';

/** Corporate transfers: the 6-digit code per order, and imported bank statement lines. */
export class Transfers1764500000000 implements MigrationInterface {
  name = 'Transfers1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await createPortableTable(q, new Table({
      name: 'transfer_codes',
      columns: [
        col.id(), col.int('order_id'), col.string('order_no', 32), col.string('code', 6), col.string('open_code', 6, true),
        col.string('organization_name', 200), col.time('created_at'),
      ],
      uniques: [{ name: 'uq_transfer_codes_order', columnNames: ['order_id'] }, { name: 'uq_transfer_codes_open', columnNames: ['open_code'] }],
    }));
    await createPortableTable(q, new Table({
      name: 'bank_statement_lines',
      columns: [
        col.id(), col.string('bank_serial', 64), col.string('line_date', 32), col.string('payer_name', 200), col.string('payer_account', 64),
        col.string('payer_bank', 200), col.int('amount_fen', true), col.string('remark', 200), col.string('decision', 16),
        col.string('reason', 200, true), col.string('order_no', 32, true), col.string('source', 200), col.time('imported_at'),
      ],
      uniques: [{ name: 'uq_statement_bank_serial', columnNames: ['bank_serial'] }],
    }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('bank_statement_lines');
    await q.dropTable('transfer_codes');
  }
}
