import { type MigrationInterface, type QueryRunner, Table } from 'typeorm';
import { col, createPortableTable } from './helpers';

/** The operator console (issue 12): its operators and the four-eyes proposals. */
export class Console1765900000000 implements MigrationInterface {
  name = 'Console1765900000000';

  async up(q: QueryRunner): Promise<void> {
    await createPortableTable(q, new Table({
      name: 'operators',
      columns: [
        col.id(), col.string('username', 64), col.string('display_name', 64), col.string('password_hash', 255), col.string('totp_secret', 255, true),
        col.int('totp_last_step', true), col.string('ukey_fingerprint', 64, true), col.text('ukey_certificate_pem', true),
        col.string('roles', 64), col.bool('disabled'), col.time('last_login_at', true), col.time('created_at'), col.time('updated_at'),
      ],
      uniques: [{ name: 'uq_operators_username', columnNames: ['username'] }],
    }));
    await createPortableTable(q, new Table({
      name: 'console_proposals',
      columns: [
        col.id(), col.string('kind', 32), col.text('payload'), col.string('reason', 500), col.string('status', 16), col.int('proposer_id'), col.int('approver_id', true),
        col.time('decided_at', true), col.string('decision_reason', 500, true), col.text('result', true), col.string('error', 500, true), col.int('attempts', false, 0),
        col.time('created_at'), col.time('updated_at'),
      ],
      indices: [
        { name: 'idx_console_proposals_status', columnNames: ['status', 'created_at'] },
        { name: 'idx_console_proposals_kind', columnNames: ['kind', 'created_at'] },
      ],
    }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('console_proposals');
    await q.dropTable('operators');
  }
}
