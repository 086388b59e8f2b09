import { type MigrationInterface, type QueryRunner, Table } from 'typeorm';
import { col, createPortableTable } from './helpers';

/** The built-in (sandbox) CA: its CA certificates with encrypted keys, and what it issued. */
export class SandboxCa1764200000000 implements MigrationInterface {
  name = 'SandboxCa1764200000000';

  async up(q: QueryRunner): Promise<void> {
    await createPortableTable(q, new Table({
      name: 'sandbox_ca_authorities',
      columns: [
        col.id(),
        col.string('name', 128),
        col.string('role', 16),
        col.string('algorithm', 16),
        col.string('parent_name', 128, true),
        col.text('certificate_pem'),
        col.text('encrypted_key'),
        col.string('fingerprint_sha256', 64),
        col.time('created_at'),
      ],
      uniques: [{ name: 'uq_sandbox_ca_authorities_name', columnNames: ['name'] }],
    }));
    await createPortableTable(q, new Table({
      name: 'sandbox_ca_issued',
      columns: [
        col.id(),
        col.string('request_id', 128),
        col.string('serial_hex', 64),
        col.string('issuer_name', 128),
        col.string('algorithm', 16),
        col.string('usage', 16),
        col.string('project', 128),
        col.string('cert_type', 64),
        col.text('subject_dn'),
        col.string('spki_sha256', 64),
        col.string('media_serial', 64, true),
        col.text('certificate_pem'),
        col.time('not_before'),
        col.time('not_after'),
        col.string('status', 16),
        col.time('revoked_at', true),
        col.string('revocation_reason', 32, true),
        col.bool('sandbox'),
        col.time('created_at'),
      ],
      uniques: [
        { name: 'uq_sandbox_ca_issued_request', columnNames: ['request_id'] },
        { name: 'uq_sandbox_ca_issued_serial', columnNames: ['serial_hex'] },
      ],
    }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('sandbox_ca_issued');
    await q.dropTable('sandbox_ca_authorities');
  }
}
