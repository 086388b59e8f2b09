import { type MigrationInterface, type QueryRunner, Table } from 'typeorm';
import { col, createPortableTable } from './helpers';

/** Order notices WeChat would not deliver (43004: the user no longer follows): the order page shows them instead. */
export class OrderNotices1765000000000 implements MigrationInterface {
  name = 'OrderNotices1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await createPortableTable(q, new Table({
      name: 'order_notices',
      columns: [
        col.id(), col.string('notice_key', 64), col.string('order_no', 32), col.string('openid', 64), col.string('kind', 24),
        col.int('amount_fen'), col.string('detail', 200), col.int('errcode'), col.time('happened_at'), col.time('created_at'), col.time('seen_at', true),
      ],
      uniques: [{ name: 'uq_order_notices_key', columnNames: ['notice_key'] }],
      indices: [{ name: 'idx_order_notices_order', columnNames: ['order_no'] }, { name: 'idx_order_notices_openid', columnNames: ['openid'] }],
    }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('order_notices');
  }
}
