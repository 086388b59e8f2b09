import { loadConfig } from '../config/load';
import { entities } from '../entities';
import { createDataSource } from '../lib/db/data-source';
import { runMigrations } from '../lib/db/migrate';
import { createLogger } from '../lib/logger';
import { type CliIo, runCli } from './bootstrap';

/** `npm run migrate`: applies pending migrations to the configured database (MySQL under its lock, or SQLite). */
async function migrate(io: CliIo): Promise<void> {
  const config = loadConfig(io.env);
  const ds = createDataSource(config.database, { entities });
  await ds.initialize();
  try {
    const applied = await runMigrations(ds, createLogger(config.logLevel));
    io.out(applied.length ? `Applied: ${applied.join(', ')}` : 'Nothing to apply: the database is up to date.');
  } finally {
    await ds.destroy();
  }
}

runCli(migrate);
