import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';
import { col, createPortableTable } from './helpers';

/** Price rules (seeded with the seed's 梅州市住房公积金 机构证书 200 元/个/年), renewal orders and their lines. */
export class Orders1764400000000 implements MigrationInterface {
  name = 'Orders1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await createPortableTable(q, new Table({
      name: 'price_rules',
      columns: [
        col.id(),
        col.string('project', 64),
        col.string('cert_type', 32),
        col.int('unit_price_fen'),
        col.string('allowed_years', 16),
        col.time('effective_from'),
        col.time('effective_to', true),
        col.time('created_at'),
      ],
    }));
    await q.createIndex('price_rules', new TableIndex({ name: 'ix_price_rules_kind', columnNames: ['project', 'cert_type', 'effective_from'] }));
    // The seed (section 四): 梅州市住房公积金 机构证书, 200 元/个/年, 1–5 years; in force from before this system existed.
    await q.query(
      'INSERT INTO price_rules (project, cert_type, unit_price_fen, allowed_years, effective_from, effective_to, created_at) VALUES (?, ?, ?, ?, ?, NULL, ?)',
      ['梅州市住房公积金', '机构证书', 20000, '1,2,3,4,5', '2020-01-01 00:00:00.000', '2026-11-26 00:00:00.000'],
    );

    await createPortableTable(q, new Table({
      name: 'orders',
      columns: [
        col.id(),
        col.string('order_no', 32),
        col.string('openid', 64),
        col.string('state', 24),
        col.int('total_fen'),
        col.string('currency', 3),
        col.int('years', true),
        col.string('payment_method', 16, true),
        col.time('expires_at'),
        col.time('paid_at', true),
        col.int('paid_amount_fen', true),
        col.string('transaction_id', 64, true),
        col.time('closed_at', true),
        col.string('close_reason', 16, true),
        col.time('fulfilled_at', true),
        col.time('refunding_at', true),
        col.time('refunded_at', true),
        col.bool('sandbox'),
        col.time('created_at'),
        col.time('updated_at'),
      ],
      uniques: [{ name: 'uq_orders_order_no', columnNames: ['order_no'] }],
    }));
    await q.createIndex('orders', new TableIndex({ name: 'ix_orders_openid', columnNames: ['openid', 'created_at'] }));
    await q.createIndex('orders', new TableIndex({ name: 'ix_orders_state_expires', columnNames: ['state', 'expires_at'] }));

    await createPortableTable(q, new Table({
      name: 'order_lines',
      columns: [
        col.id(),
        col.int('order_id'),
        col.int('certificate_id'),
        col.int('years'),
        col.int('unit_price_fen'),
        col.int('amount_fen'),
        col.int('price_rule_id'),
        col.string('open_key', 32, true),
      ],
      uniques: [{ name: 'uq_order_lines_open_key', columnNames: ['open_key'] }],
    }));
    await q.createIndex('order_lines', new TableIndex({ name: 'ix_order_lines_order', columnNames: ['order_id'] }));
    await q.createIndex('order_lines', new TableIndex({ name: 'ix_order_lines_certificate', columnNames: ['certificate_id'] }));
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['order_lines', 'orders', 'price_rules']) await q.dropTable(table);
  }
}
