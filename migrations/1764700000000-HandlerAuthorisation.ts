import { type MigrationInterface, type QueryRunner, Table, TableColumn, TableIndex } from 'typeorm';
import { col, createPortableTable } from './helpers';

/**
 * Which verified handlers may act for which organisation (the first one recorded, later ones approved by an
 * operator), and the handler the CA's own records register for a certificate.
 */
export class HandlerAuthorisation1764700000000 implements MigrationInterface {
  name = 'HandlerAuthorisation1764700000000';

  async up(q: QueryRunner): Promise<void> {
    await createPortableTable(q, new Table({
      name: 'handler_authorisations',
      columns: [
        col.id(), col.string('org_key', 255), col.string('organization', 200, true), col.string('credit_code', 32, true), col.string('id_number_index', 64),
        col.string('name_masked', 64), col.string('id_number_masked', 18), col.string('openid', 64), col.int('certificate_id'), col.string('state', 16),
        col.string('method', 16), col.int('first_slot', true), col.time('requested_at'), col.time('decided_at', true), col.string('decided_by', 64, true),
        col.string('reason', 200, true), col.time('purge_after'), col.bool('sandbox'), col.time('created_at'), col.time('updated_at'),
      ],
      uniques: [
        // One row per person and organisation: a second request by the same person finds the first.
        { name: 'uq_handler_authorisations_person', columnNames: ['org_key', 'sandbox', 'id_number_index'] },
        // first_slot is 1 only on the 'first' row (NULL elsewhere, and NULLs never collide): one first handler per organisation.
        { name: 'uq_handler_authorisations_first', columnNames: ['org_key', 'sandbox', 'first_slot'] },
      ],
    }));
    await q.createIndex('handler_authorisations', new TableIndex({ name: 'ix_handler_authorisations_state', columnNames: ['state', 'requested_at'] }));
    await q.createIndex('handler_authorisations', new TableIndex({ name: 'ix_handler_authorisations_purge', columnNames: ['purge_after'] }));
    // The HMAC index (PiiVault.index, purpose id-number) of the handler the CA registered for the certificate.
    await q.addColumn('certificates', new TableColumn(col.string('registered_handler_index', 64, true)));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('certificates', 'registered_handler_index');
    await q.dropTable('handler_authorisations');
  }
}
