import { type MigrationInterface, type QueryRunner, Table } from 'typeorm';
import { col, createPortableTable } from './helpers';

/** The daily WeChat Pay trade bill check: one run per bill day, and what it found that differs from our records. */
export class WechatPayBills1765800000000 implements MigrationInterface {
  name = 'WechatPayBills1765800000000';

  async up(q: QueryRunner): Promise<void> {
    await createPortableTable(q, new Table({
      name: 'wechatpay_bill_runs',
      columns: [
        col.id(), col.string('bill_date', 10), col.string('state', 16), col.int('bill_rows', false, 0), col.int('bill_payment_fen', false, 0), col.int('bill_refund_fen', false, 0),
        col.int('findings', false, 0), col.int('attempts', false, 0), col.string('last_error', 200, true), col.time('started_at'), col.time('finished_at', true),
      ],
      uniques: [{ name: 'uq_wechatpay_bill_runs_date', columnNames: ['bill_date'] }],
    }));
    await createPortableTable(q, new Table({
      name: 'wechatpay_bill_findings',
      columns: [
        col.id(), col.string('bill_date', 10), col.string('kind', 32), col.string('out_trade_no', 32), col.string('out_refund_no', 64), col.string('transaction_id', 64, true),
        col.int('ours_fen', true), col.int('theirs_fen', true), col.string('outcome', 16), col.string('detail', 200), col.time('created_at'),
        col.time('resolved_at', true), col.string('resolved_by', 64, true),
      ],
      uniques: [{ name: 'uq_wechatpay_bill_findings', columnNames: ['bill_date', 'kind', 'out_trade_no', 'out_refund_no'] }],
      indices: [{ name: 'idx_wechatpay_bill_findings_open', columnNames: ['outcome', 'resolved_at'] }],
    }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('wechatpay_bill_findings');
    await q.dropTable('wechatpay_bill_runs');
  }
}
