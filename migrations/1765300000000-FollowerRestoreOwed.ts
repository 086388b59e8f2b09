import { type MigrationInterface, type QueryRunner, TableColumn, TableIndex } from 'typeorm';
import { col } from './helpers';

/**
 * A subscribe owes the follower a legacy-binding restore (user-info → unionid → bindings). The mark is written by
 * the subscribe's own follower upsert (no job per event on the webhook's path) and cleared by the restore pass,
 * which asks WeChat for up to 100 users at a time.
 */
export class FollowerRestoreOwed1765300000000 implements MigrationInterface {
  name = 'FollowerRestoreOwed1765300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn('followers', new TableColumn(col.bool('restore_owed')));
    await q.createIndex('followers', new TableIndex({ name: 'ix_followers_restore_owed', columnNames: ['restore_owed', 'updated_at'] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex('followers', 'ix_followers_restore_owed');
    await q.dropColumn('followers', 'restore_owed');
  }
}
