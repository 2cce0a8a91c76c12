import path from 'node:path';
import { PostgresStore } from './postgres.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './types.js';

export * from './types.js';
export { PostgresStore } from './postgres.js';
export type { PostgresStoreOptions } from './postgres.js';
export { SqliteStore } from './sqlite.js';

export interface OpenStoreOptions {
  /** `postgres://…` or `postgresql://…`; when absent, SQLite in `dataDir`. */
  databaseUrl?: string;
  /** Directory of the embedded database (`<dataDir>/tessera.db`). */
  dataDir?: string;
  /** PostgreSQL schema for Tessera's tables. */
  schema?: string;
}

/** Opens the configured backend and brings its schema up to date. */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const store = createStore(options);
  try {
    await store.migrate();
  } catch (error) {
    await store.close().catch(() => undefined);
    throw error;
  }
  return store;
}

function createStore(options: OpenStoreOptions): Store {
  const { databaseUrl, dataDir, schema } = options;
  if (databaseUrl !== undefined && databaseUrl !== '') {
    if (/^postgres(ql)?:\/\//i.test(databaseUrl)) {
      return new PostgresStore({ connectionString: databaseUrl, ...(schema === undefined ? {} : { schema }) });
    }
    // Name only the scheme: the rest of the URL may hold a password.
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(databaseUrl)?.[1] ?? '(none)';
    throw new Error(
      `unsupported database URL scheme "${scheme}": use postgres:// or postgresql://, or leave the URL ` +
        'unset to use the embedded SQLite database in the data directory',
    );
  }
  if (dataDir === undefined || dataDir === '') {
    throw new Error('openStore: set databaseUrl (PostgreSQL) or dataDir (embedded SQLite)');
  }
  return new SqliteStore(path.join(dataDir, 'tessera.db'));
}
