import { resolve } from 'node:path';
import dotenv from 'dotenv';
import { buildConfig } from '../config';
import { ensureSandboxSecrets } from '../config/sandbox-secrets';
import { parseSettings, SettingsError } from '../config/settings';
import { createDataSource } from '../lib/db/data-source';
import { runMigrations } from '../lib/db/migrate';
import { createLogger } from '../lib/logger';

/** `npm run migrate`: applies pending migrations to the configured database (MySQL under its lock, or SQLite). */
async function main() {
  dotenv.config({ quiet: true });
  const settings = parseSettings(process.env);
  const config = buildConfig(settings, settings.APP_ENV === 'production' ? undefined : ensureSandboxSecrets(resolve(settings.DATA_DIR)));
  const logger = createLogger(config.logLevel);
  const ds = createDataSource(config.database);
  await ds.initialize();
  try {
    const applied = await runMigrations(ds, logger);
    console.log(applied.length ? `Applied: ${applied.join(', ')}` : 'Nothing to apply: the database is up to date.');
  } finally {
    await ds.destroy();
  }
}

main().catch((err) => {
  console.error(err instanceof SettingsError ? `Cannot migrate: ${err.message}` : `Cannot migrate: ${(err as Error).message}`);
  process.exit(1);
});
