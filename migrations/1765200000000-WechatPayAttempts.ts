import { type MigrationInterface, type QueryRunner, Table } from 'typeorm';
import { col, createPortableTable } from './helpers';

/**
 * WeChat Pay payment attempts: each out_trade_no an order was prepaid under, with the time_expire first sent for it
 * (WeChat Pay refuses a changed one) and when it was closed there. The first attempt's out_trade_no is the order number.
 */
export class WechatPayAttempts1765200000000 implements MigrationInterface {
  name = 'WechatPayAttempts1765200000000';

  async up(q: QueryRunner): Promise<void> {
    await createPortableTable(q, new Table({
      name: 'wechatpay_attempts',
      columns: [
        col.id(), col.int('order_id'), col.string('order_no', 32), col.int('seq'), col.string('out_trade_no', 32),
        col.time('time_expire'), col.time('created_at'), col.time('closed_at', true),
      ],
      uniques: [
        { name: 'uq_wechatpay_attempts_out_trade_no', columnNames: ['out_trade_no'] },
        { name: 'uq_wechatpay_attempts_order_seq', columnNames: ['order_id', 'seq'] },
      ],
    }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('wechatpay_attempts');
  }
}
