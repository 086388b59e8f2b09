import { type MigrationInterface, type QueryRunner, Table, TableColumn } from 'typeorm';
import { col, createPortableTable } from './helpers';

/**
 * 我的发票 (issue 11): invoice requests (受理单号), their lines (one per order; order_key unique while an invoice
 * stands for the order), provider attempts (attempt_key = the provider's order number, unique forever), our copies
 * of the files (PDF/OFD/XML, MEDIUMBLOB on MySQL: a PDF with an embedded font subset is ~100 KB, BLOB stops at
 * 64 KB), the revocable links, saved titles and the e-mails. The price rule gains what the invoice line needs:
 * item name, 税收分类编码 and tax rate (basis points).
 */
export class Invoices1765600000000 implements MigrationInterface {
  name = 'Invoices1765600000000';

  async up(q: QueryRunner): Promise<void> {
    const blob = q.connection.options.type === 'mysql' ? 'mediumblob' : 'blob';
    await createPortableTable(q, new Table({
      name: 'invoice_requests',
      columns: [
        col.id(), col.string('acceptance_no', 16), col.string('openid', 64), col.string('direction', 8), col.int('reverses_id', true), col.int('replaces_id', true),
        col.string('buyer_kind', 16), col.string('title', 100), col.text('buyer_sealed'), col.int('total_fen'), col.int('amount_fen'), col.int('tax_fen'),
        col.string('status', 16), col.string('failure_reason', 200, true), col.int('attempt_no'), col.string('kind', 8, true), col.string('invoice_code', 12, true),
        col.string('invoice_number', 20, true), col.time('issued_at', true), col.string('red_confirm_id', 32, true), col.string('red_state', 16, true),
        col.bool('sandbox'), col.time('contacts_erased_at', true), col.time('created_at'), col.time('updated_at'),
      ],
      uniques: [{ name: 'uq_invoice_requests_acceptance_no', columnNames: ['acceptance_no'] }],
      indices: [{ name: 'idx_invoice_requests_openid', columnNames: ['openid', 'created_at'] }, { name: 'idx_invoice_requests_status', columnNames: ['status', 'updated_at'] }],
    }));
    await createPortableTable(q, new Table({
      name: 'invoice_lines',
      columns: [
        col.id(), col.int('request_id'), col.string('order_no', 32), col.string('order_key', 32, true), col.string('item_name', 64), col.string('tax_code', 19),
        col.int('tax_rate_bp'), col.int('quantity'), col.int('total_fen'), col.int('amount_fen'), col.int('tax_fen'),
      ],
      uniques: [{ name: 'uq_invoice_lines_order_key', columnNames: ['order_key'] }],
      indices: [{ name: 'idx_invoice_lines_request', columnNames: ['request_id'] }, { name: 'idx_invoice_lines_order', columnNames: ['order_no'] }],
    }));
    await createPortableTable(q, new Table({
      name: 'invoice_attempts',
      columns: [
        col.id(), col.int('request_id'), col.int('attempt_no'), col.string('attempt_key', 20), col.string('state', 16), col.string('serial', 64, true),
        col.string('reason', 200, true), col.int('polls', false, 0), col.string('started_by', 64), col.time('created_at'), col.time('updated_at'),
      ],
      uniques: [{ name: 'uq_invoice_attempts_key', columnNames: ['attempt_key'] }, { name: 'uq_invoice_attempts_no', columnNames: ['request_id', 'attempt_no'] }],
      indices: [{ name: 'idx_invoice_attempts_state', columnNames: ['state', 'updated_at'] }],
    }));
    await createPortableTable(q, new Table({
      name: 'invoice_files',
      columns: [
        col.id(), col.int('request_id'), col.string('kind', 8), col.string('content_type', 64), { name: 'bytes', type: blob, isNullable: false },
        col.int('size_bytes'), col.string('sha256', 64), col.time('created_at'),
      ],
      uniques: [{ name: 'uq_invoice_files_kind', columnNames: ['request_id', 'kind'] }],
    }));
    await createPortableTable(q, new Table({
      name: 'invoice_links',
      columns: [
        col.id(), col.int('request_id'), col.string('token_hash', 64), col.string('token_sealed', 255), col.time('revoked_at', true), col.string('revoked_by', 64, true),
        col.int('opens', false, 0), col.time('created_at'),
      ],
      uniques: [{ name: 'uq_invoice_links_token', columnNames: ['token_hash'] }],
      indices: [{ name: 'idx_invoice_links_request', columnNames: ['request_id'] }],
    }));
    await createPortableTable(q, new Table({
      name: 'invoice_saved_titles',
      columns: [col.id(), col.string('openid', 64), col.string('title_index', 64), col.text('sealed'), col.time('last_used_at'), col.time('created_at')],
      uniques: [{ name: 'uq_invoice_saved_titles', columnNames: ['openid', 'title_index'] }],
    }));
    await createPortableTable(q, new Table({
      name: 'invoice_mails',
      columns: [
        col.id(), col.int('request_id'), col.string('mail_key', 64), col.string('to_sealed', 400), col.string('state', 8), col.int('attempts', false, 0),
        col.string('last_error', 200, true), col.string('message_id', 200, true), col.time('created_at'), col.time('sent_at', true),
      ],
      uniques: [{ name: 'uq_invoice_mails_key', columnNames: ['mail_key'] }],
      indices: [{ name: 'idx_invoice_mails_request', columnNames: ['request_id'] }, { name: 'idx_invoice_mails_state', columnNames: ['state', 'created_at'] }],
    }));
    // What the invoice line of an order priced by this rule says (a general taxpayer's 6%; the code is the tax adviser's).
    await q.addColumns('price_rules', [
      new TableColumn({ name: 'invoice_item', type: 'varchar', length: '64', isNullable: false, default: "'*信息技术服务*数字证书服务费'" }),
      new TableColumn({ name: 'tax_code', type: 'varchar', length: '19', isNullable: false, default: "'3040201990000000000'" }),
      new TableColumn({ name: 'tax_rate_bp', type: 'integer', isNullable: false, default: 600 }),
    ]);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumns('price_rules', ['invoice_item', 'tax_code', 'tax_rate_bp']);
    for (const table of ['invoice_mails', 'invoice_saved_titles', 'invoice_links', 'invoice_files', 'invoice_attempts', 'invoice_lines', 'invoice_requests']) await q.dropTable(table);
  }
}
