import { type DataSource } from 'typeorm';
import { type Logger } from '../logger';
import { serialised } from './transaction';

const LOCK_NAME = 'cam_migrations';

/**
 * Applies pending migrations. On MySQL it holds a named lock (GET_LOCK) on one connection meanwhile, so two
 * instances starting at once do not race: the second waits, then finds nothing left to do.
 */
export async function runMigrations(ds: DataSource, logger: Logger, lockWaitSeconds = 120): Promise<string[]> {
  if (ds.options.type !== 'mysql') {
    // TypeORM opens the migrations' transactions itself: they hold the one SQLite connection like inTransaction.
    const applied = await serialised(ds, () => ds.runMigrations({ transaction: 'each' }));
    return applied.map((m) => m.name);
  }
  const runner = ds.createQueryRunner();
  try {
    await runner.connect();
    const [row] = await runner.query('SELECT GET_LOCK(?, ?) AS got', [LOCK_NAME, lockWaitSeconds]);
    if (Number(row.got) !== 1) throw new Error(`could not take the migration lock ${LOCK_NAME} within ${lockWaitSeconds}s`);
    try {
      const applied = await ds.runMigrations({ transaction: 'each' });
      if (applied.length) logger.info({ migrations: applied.map((m) => m.name) }, 'migrations applied');
      return applied.map((m) => m.name);
    } finally {
      await runner.query('SELECT RELEASE_LOCK(?)', [LOCK_NAME]);
    }
  } finally {
    await runner.release();
  }
}
