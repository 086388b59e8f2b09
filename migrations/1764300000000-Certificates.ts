import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';
import { col, createPortableTable } from './helpers';

/** Certificates, the operator review queue, bindings, binding codes and imported legacy bindings. */
export class Certificates1764300000000 implements MigrationInterface {
  name = 'Certificates1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await createPortableTable(q, new Table({
      name: 'certificates',
      columns: [
        col.id(),
        col.string('fingerprint_sha256', 64),
        col.string('serial_hex', 64),
        col.string('issuer_dn', 512),
        col.string('subject_dn', 512),
        col.string('organization', 200, true),
        col.string('credit_code', 32, true),
        col.string('common_name', 200, true),
        col.string('algorithm', 16),
        col.string('usage', 8),
        col.string('media_serial', 64, true),
        col.string('project', 64),
        col.string('cert_type', 32),
        col.time('not_before'),
        col.time('not_after'),
        col.string('status', 16),
        col.time('revoked_at', true),
        col.int('superseded_by_id', true),
        col.int('pair_certificate_id', true),
        col.text('pem'),
        col.bool('sandbox'),
        col.time('created_at'),
        col.time('updated_at'),
      ],
      uniques: [{ name: 'uq_certificates_fingerprint', columnNames: ['fingerprint_sha256'] }],
    }));
    await q.createIndex('certificates', new TableIndex({ name: 'ix_certificates_serial', columnNames: ['serial_hex'] }));
    await q.createIndex('certificates', new TableIndex({ name: 'ix_certificates_media_serial', columnNames: ['media_serial'] }));

    await createPortableTable(q, new Table({
      name: 'certificate_reviews',
      columns: [
        col.id(),
        col.string('fingerprint_sha256', 64),
        col.string('subject_dn', 512),
        col.string('issuer_dn', 512),
        col.string('policy_oids', 512),
        col.text('pem'),
        col.string('reason', 200),
        col.string('status', 16),
        col.int('seen_count', false, 1),
        col.time('first_seen_at'),
        col.time('last_seen_at'),
        col.bool('sandbox'),
      ],
      uniques: [{ name: 'uq_certificate_reviews_fingerprint', columnNames: ['fingerprint_sha256'] }],
    }));

    await createPortableTable(q, new Table({
      name: 'certificate_bindings',
      columns: [
        col.id(),
        col.int('certificate_id'),
        col.string('openid', 64),
        col.string('unionid', 64, true),
        col.string('source', 16),
        col.bool('active'),
        col.time('bound_at'),
        col.time('unbound_at', true),
        col.bool('sandbox'),
        col.time('created_at'),
        col.time('updated_at'),
      ],
      uniques: [{ name: 'uq_bindings_certificate_openid', columnNames: ['certificate_id', 'openid'] }],
    }));
    await q.createIndex('certificate_bindings', new TableIndex({ name: 'ix_bindings_openid', columnNames: ['openid', 'active'] }));

    await createPortableTable(q, new Table({
      name: 'binding_codes',
      columns: [
        col.id(),
        col.int('certificate_id'),
        col.string('code_hmac', 64),
        col.string('qr_token_hmac', 64),
        col.time('qr_spent_at', true),
        col.time('expires_at'),
        col.time('used_at', true),
        col.string('used_by_openid', 64, true),
        col.int('failed_attempts', false, 0),
        col.bool('sandbox'),
        col.time('created_at'),
      ],
      uniques: [
        { name: 'uq_binding_codes_certificate', columnNames: ['certificate_id'] },
        { name: 'uq_binding_codes_code', columnNames: ['code_hmac'] },
        { name: 'uq_binding_codes_qr', columnNames: ['qr_token_hmac'] },
      ],
    }));

    await createPortableTable(q, new Table({
      name: 'legacy_bindings',
      columns: [
        col.id(),
        col.string('unionid', 64),
        col.string('key_kind', 8),
        col.string('key_value', 64),
        col.time('imported_at'),
        col.string('origin', 200),
      ],
      uniques: [{ name: 'uq_legacy_bindings', columnNames: ['unionid', 'key_kind', 'key_value'] }],
    }));
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['legacy_bindings', 'binding_codes', 'certificate_bindings', 'certificate_reviews', 'certificates']) await q.dropTable(table);
  }
}
