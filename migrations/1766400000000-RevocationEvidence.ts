import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';
import { col, createPortableTable } from './helpers';

/**
 * The evidence of a certificate revocation request (issue 12): the file an operator uploads with the proposal
 * (the organisation's letter, a report of a lost key), sealed with the PII vault — it names people. Up to 5 MB
 * sealed: MEDIUMBLOB on MySQL (BLOB stops at 64 KB). The proposal (console_proposals) carries its id and the text.
 * Also the certificates' search indexes for the console (USCC, organisation prefix).
 */
export class RevocationEvidence1766400000000 implements MigrationInterface {
  name = 'RevocationEvidence1766400000000';

  async up(q: QueryRunner): Promise<void> {
    const blob = q.connection.options.type === 'mysql' ? 'mediumblob' : 'blob';
    await createPortableTable(q, new Table({
      name: 'revocation_evidence',
      columns: [
        col.id(), col.int('certificate_id'), col.string('filename', 120), col.string('content_type', 64), col.int('size_bytes'),
        col.string('sha256', 64), { name: 'sealed', type: blob, isNullable: false }, col.int('uploaded_by'), col.time('created_at'),
      ],
    }));
    await q.createIndex('revocation_evidence', new TableIndex({ name: 'ix_revocation_evidence_certificate', columnNames: ['certificate_id'] }));
    // The console searches certificates by exact USCC and by organisation-name prefix (LIKE '…%' uses a B-tree index).
    await q.createIndex('certificates', new TableIndex({ name: 'ix_certificates_credit_code', columnNames: ['credit_code'] }));
    await q.createIndex('certificates', new TableIndex({ name: 'ix_certificates_organization', columnNames: ['organization'] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex('certificates', 'ix_certificates_organization');
    await q.dropIndex('certificates', 'ix_certificates_credit_code');
    await q.dropTable('revocation_evidence');
  }
}
