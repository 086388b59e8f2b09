import { type MigrationInterface, type QueryRunner, Table } from 'typeorm';
import { col, createPortableTable } from './helpers';

/** Every refund we ask WeChat Pay for (or that a refund notify tells us of), with its state and the operator's resolution. */
export class Refunds1765150000000 implements MigrationInterface {
  name = 'Refunds1765150000000';

  async up(q: QueryRunner): Promise<void> {
    await createPortableTable(q, new Table({
      name: 'refunds',
      columns: [
        col.id(), col.string('order_no', 32), col.string('out_trade_no', 32), col.string('out_refund_no', 64), col.string('transaction_id', 64), col.string('kind', 24),
        col.int('amount_fen'), col.int('total_fen'), col.string('reason', 80), col.string('state', 16), col.string('refund_id', 64, true),
        col.int('attempts', false, 0), col.string('last_error', 200, true), col.time('created_at'), col.time('updated_at'), col.time('settled_at', true),
        col.time('resolved_at', true), col.string('resolved_by', 64, true),
      ],
      uniques: [{ name: 'uq_refunds_out_refund_no', columnNames: ['out_refund_no'] }],
      indices: [{ name: 'idx_refunds_state', columnNames: ['state', 'updated_at'] }, { name: 'idx_refunds_order', columnNames: ['order_no'] }],
    }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('refunds');
  }
}
