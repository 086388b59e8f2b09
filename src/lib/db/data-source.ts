import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { migrations } from '../../../migrations';
import { serialiseSqliteQueries } from './transaction';

/** Where the data lives: MySQL/MariaDB, or the embedded SQLite file (`:memory:` in tests). */
export type DatabaseLocation = { kind: 'mysql'; url: string; poolSize: number } | { kind: 'sqlite'; file: string };

/** Builds (does not open) the data source for MySQL or the embedded SQLite file. `synchronize` is never on. */
export function createDataSource(database: DatabaseLocation, opts: { entities: NonNullable<DataSourceOptions['entities']>; schema?: string }): DataSource {
  const { entities } = opts;
  if (database.kind === 'mysql') {
    const url = new URL(database.url);
    if (opts.schema) url.pathname = `/${opts.schema}`;
    return new DataSource({
      type: 'mysql',
      url: url.toString(),
      charset: 'utf8mb4_unicode_ci',
      timezone: 'Z',
      poolSize: database.poolSize,
      connectTimeout: 5000,
      entities,
      migrations,
      migrationsTableName: 'migrations',
      synchronize: false,
      logging: false,
      extra: { enableKeepAlive: true },
    });
  }
  if (database.file !== ':memory:') mkdirSync(dirname(database.file), { recursive: true });
  const sqlite = new DataSource({
    type: 'better-sqlite3',
    database: database.file,
    entities,
    migrations,
    migrationsTableName: 'migrations',
    synchronize: false,
    logging: false,
    // WAL lets readers run beside the single writer; busy_timeout makes a second writer wait instead of failing.
    prepareDatabase: (db: { pragma(s: string): unknown }) => {
      db.pragma('journal_mode = WAL');
      db.pragma('busy_timeout = 5000');
      db.pragma('foreign_keys = ON');
    },
  });
  serialiseSqliteQueries(sqlite);
  return sqlite;
}
