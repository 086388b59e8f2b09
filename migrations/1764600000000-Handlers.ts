import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';
import { col, createPortableTable } from './helpers';

/** Handler liveness (经办人活体鉴别认证): the attempts and the verified handler per openid. Personal data sealed. */
export class Handlers1764600000000 implements MigrationInterface {
  name = 'Handlers1764600000000';

  async up(q: QueryRunner): Promise<void> {
    const person = () => [
      col.string('name_sealed', 255), col.string('name_masked', 64), col.string('id_number_sealed', 255), col.string('id_number_index', 64),
      col.string('id_number_masked', 18),
    ];
    await createPortableTable(q, new Table({
      name: 'handler_attempts',
      columns: [
        col.id(), col.string('reference', 48), col.string('openid', 64), ...person(), col.string('biz_token', 64, true), col.string('state', 16),
        col.string('refusal', 32, true), col.time('consented_at'), col.time('created_at'), col.time('finished_at', true), col.time('purge_after'),
        col.bool('sandbox'),
      ],
      uniques: [{ name: 'uq_handler_attempts_reference', columnNames: ['reference'] }],
    }));
    await q.createIndex('handler_attempts', new TableIndex({ name: 'ix_handler_attempts_openid', columnNames: ['openid', 'created_at'] }));
    await q.createIndex('handler_attempts', new TableIndex({ name: 'ix_handler_attempts_purge', columnNames: ['purge_after'] }));
    await createPortableTable(q, new Table({
      name: 'verified_handlers',
      columns: [
        col.id(), col.string('openid', 64), ...person(), col.string('method', 16), col.int('attempt_id'), col.time('verified_at'), col.time('purge_after'),
        col.bool('sandbox'), col.time('created_at'), col.time('updated_at'),
      ],
      uniques: [{ name: 'uq_verified_handlers_openid', columnNames: ['openid'] }],
    }));
    await q.createIndex('verified_handlers', new TableIndex({ name: 'ix_verified_handlers_id_index', columnNames: ['id_number_index'] }));
    await q.createIndex('verified_handlers', new TableIndex({ name: 'ix_verified_handlers_purge', columnNames: ['purge_after'] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('verified_handlers');
    await q.dropTable('handler_attempts');
  }
}
