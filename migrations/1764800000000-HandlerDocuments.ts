import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';
import { col, createPortableTable } from './helpers';

/**
 * The non-face alternative to handler liveness: documents uploaded for operator review. The images are sealed
 * blobs of up to 5 MB (+ 30 bytes): MEDIUMBLOB on MySQL (BLOB stops at 64 KB; the server's max_allowed_packet
 * must allow ~11 MB, the default is 16 MB on MariaDB and 64 MB on MySQL 8), BLOB on SQLite (no size classes).
 */
export class HandlerDocuments1764800000000 implements MigrationInterface {
  name = 'HandlerDocuments1764800000000';

  async up(q: QueryRunner): Promise<void> {
    await createPortableTable(q, new Table({
      name: 'handler_document_submissions',
      columns: [
        col.id(), col.string('openid', 64), col.string('pending_key', 64, true), col.string('name_sealed', 255), col.string('name_masked', 64),
        col.string('id_number_sealed', 255), col.string('id_number_index', 64), col.string('id_number_masked', 18), col.string('organisation', 128),
        col.string('state', 16), col.string('reviewer', 64, true), col.string('reason', 200, true), col.time('consented_at'), col.time('created_at'),
        col.time('reviewed_at', true), col.time('purge_after'), col.bool('sandbox'),
      ],
      uniques: [{ name: 'uq_handler_doc_sub_pending', columnNames: ['pending_key'] }],
    }));
    await q.createIndex('handler_document_submissions', new TableIndex({ name: 'ix_handler_doc_sub_openid', columnNames: ['openid', 'created_at'] }));
    await q.createIndex('handler_document_submissions', new TableIndex({ name: 'ix_handler_doc_sub_state', columnNames: ['state', 'created_at'] }));
    await q.createIndex('handler_document_submissions', new TableIndex({ name: 'ix_handler_doc_sub_purge', columnNames: ['purge_after'] }));
    const blob = q.connection.options.type === 'mysql' ? 'mediumblob' : 'blob';
    await createPortableTable(q, new Table({
      name: 'handler_document_files',
      columns: [
        col.id(), col.int('submission_id'), col.string('kind', 16), col.string('content_type', 16), col.int('size'),
        { name: 'sealed', type: blob, isNullable: false }, col.time('created_at'),
      ],
      uniques: [{ name: 'uq_handler_doc_files_kind', columnNames: ['submission_id', 'kind'] }],
    }));
    await createPortableTable(q, new Table({
      name: 'handler_document_accesses',
      columns: [col.id(), col.int('submission_id'), col.string('actor', 64), col.string('action', 16), col.time('at')],
    }));
    await q.createIndex('handler_document_accesses', new TableIndex({ name: 'ix_handler_doc_access_sub', columnNames: ['submission_id'] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('handler_document_accesses');
    await q.dropTable('handler_document_files');
    await q.dropTable('handler_document_submissions');
  }
}
