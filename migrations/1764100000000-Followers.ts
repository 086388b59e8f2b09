import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';
import { col, createPortableTable } from './helpers';

export class Followers1764100000000 implements MigrationInterface {
  name = 'Followers1764100000000';

  async up(q: QueryRunner): Promise<void> {
    await createPortableTable(q, new Table({
      name: 'followers',
      columns: [
        col.id(),
        col.string('openid', 64),
        col.string('unionid', 64, true),
        col.bool('subscribed'),
        col.string('first_scene', 64, true),
        col.string('last_scene', 64, true),
        col.time('subscribed_at', true),
        col.time('unsubscribed_at', true),
        col.bool('sandbox'),
        col.time('created_at'),
        col.time('updated_at'),
      ],
      uniques: [{ name: 'uq_followers_openid', columnNames: ['openid'] }],
    }));
    await q.createIndex('followers', new TableIndex({ name: 'ix_followers_unionid', columnNames: ['unionid'] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('followers');
  }
}
