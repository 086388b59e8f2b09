import { type MigrationInterface, type QueryRunner, Table } from 'typeorm';
import { col, createPortableTable } from './helpers';

/**
 * The built-in sandbox CA's current CRL per issuing CA (the CRL number must only grow, so it is kept rather
 * than derived), and the KMC's archive of SM2 encryption keys (GM/T 0034: an old encryption key stays
 * recoverable), each private key encrypted under CA_KEY_ENCRYPTION_KEY.
 */
export class SandboxCaCrls1765500000000 implements MigrationInterface {
  name = 'SandboxCaCrls1765500000000';

  async up(q: QueryRunner): Promise<void> {
    await createPortableTable(q, new Table({
      name: 'sandbox_ca_crls',
      columns: [
        col.id(), col.string('issuer_name', 128), col.int('crl_number'), col.int('entry_count'), col.time('this_update'), col.time('next_update'),
        col.text('der_base64'),
      ],
      uniques: [{ name: 'uq_sandbox_ca_crls_issuer', columnNames: ['issuer_name'] }],
    }));
    await createPortableTable(q, new Table({
      name: 'sandbox_kmc_keys',
      columns: [
        col.id(), col.string('key_request_id', 128), col.string('encryption_serial_hex', 64), col.text('encrypted_private_key'),
        col.string('signing_spki_sha256', 64), col.text('enveloped_key_base64'), col.time('created_at'), col.time('updated_at'),
      ],
      uniques: [{ name: 'uq_sandbox_kmc_keys_request', columnNames: ['key_request_id'] }],
    }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('sandbox_kmc_keys');
    await q.dropTable('sandbox_ca_crls');
  }
}
