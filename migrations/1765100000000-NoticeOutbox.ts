import { type MigrationInterface, type QueryRunner, Table } from 'typeorm';
import { col, createPortableTable } from './helpers';

/** Notices owed after a commit (订单支付成功, 汇款未通过, 审核结果通知): recorded in the transaction that makes them owed. */
export class NoticeOutbox1765100000000 implements MigrationInterface {
  name = 'NoticeOutbox1765100000000';

  async up(q: QueryRunner): Promise<void> {
    await createPortableTable(q, new Table({
      name: 'notice_outbox',
      columns: [
        col.id(), col.string('notice_key', 96), col.string('job', 64), col.text('payload'), col.string('state', 16),
        col.time('created_at'), col.time('settled_at', true),
      ],
      uniques: [{ name: 'uq_notice_outbox_key', columnNames: ['notice_key'] }],
      indices: [{ name: 'idx_notice_outbox_state', columnNames: ['state', 'created_at'] }],
    }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('notice_outbox');
  }
}
