import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';
import { col, createPortableTable } from './helpers';

/**
 * PC renewal (docs/renewal.md): the renewal state machine (one per paid order line), the certificates issued for
 * it (idempotent by CSR hash; one installed per renewal) and the append-only, hash-chained audit log.
 */
export class Renewals1765700000000 implements MigrationInterface {
  name = 'Renewals1765700000000';

  async up(q: QueryRunner): Promise<void> {
    await createPortableTable(q, new Table({
      name: 'renewals',
      columns: [
        col.id(), col.int('order_line_id'), col.int('order_id'), col.string('order_no', 32), col.int('certificate_id'), col.string('openid', 64),
        col.int('years'), col.string('algorithm', 16), col.bool('dual'), col.string('state', 16),
        col.string('lease_token', 80, true), col.time('lease_until', true), col.string('challenge_session', 64, true),
        col.int('current_issuance_id', true), col.int('new_certificate_id', true), col.time('installed_at', true), col.time('old_revoked_at', true),
        col.bool('sandbox'), col.time('created_at'), col.time('updated_at'),
      ],
      uniques: [{ name: 'uq_renewals_order_line', columnNames: ['order_line_id'] }],
    }));
    await q.createIndex('renewals', new TableIndex({ name: 'idx_renewals_certificate', columnNames: ['certificate_id'] }));
    await q.createIndex('renewals', new TableIndex({ name: 'idx_renewals_state', columnNames: ['state', 'installed_at'] }));
    await createPortableTable(q, new Table({
      name: 'renewal_issuances',
      columns: [
        col.id(), col.int('renewal_id'), col.string('request_id', 128), col.string('csr_sha256', 64), col.string('key_id', 128, true),
        col.string('media_serial', 64, true), col.string('state', 16), col.string('serial_hex', 64), col.text('certificate_pem'), col.text('chain_pem'),
        col.time('not_before'), col.time('not_after'), col.text('enc_certificate_pem', true), col.string('enc_serial_hex', 64, true),
        col.text('enveloped_key_base64', true), col.string('installed_key', 32, true), col.time('revoked_at', true), col.time('created_at'), col.time('updated_at'),
      ],
      uniques: [
        { name: 'uq_renewal_issuances_request', columnNames: ['request_id'] },
        { name: 'uq_renewal_issuances_csr', columnNames: ['renewal_id', 'csr_sha256'] },
        { name: 'uq_renewal_issuances_installed', columnNames: ['installed_key'] },
      ],
    }));
    await createPortableTable(q, new Table({
      name: 'renewal_audit',
      columns: [
        col.id(), col.int('seq'), col.int('renewal_id', true), col.string('step', 32), col.text('detail'), col.time('at'),
        col.string('prev_hash', 64), col.string('hash', 64),
      ],
      uniques: [{ name: 'uq_renewal_audit_seq', columnNames: ['seq'] }],
    }));
    await q.createIndex('renewal_audit', new TableIndex({ name: 'idx_renewal_audit_renewal', columnNames: ['renewal_id'] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('renewal_audit');
    await q.dropTable('renewal_issuances');
    await q.dropTable('renewals');
  }
}
