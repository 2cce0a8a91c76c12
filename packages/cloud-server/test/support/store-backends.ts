import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { uuidv7 } from '../../src/ids.js';
import type { SqlRow, SqlValue } from '../../src/store/executor.js';
import { PostgresStore, quoteIdentifier } from '../../src/store/postgres.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { AuditEvent, SigningKeyRecord, Store, StoredObject } from '../../src/store/types.js';

/**
 * Test support (not shipped): each backend gives a fresh, private database — a temp directory for
 * SQLite, a random schema for PostgreSQL — and raw access to it that bypasses the store.
 */
export const TEST_DATABASE_URL = process.env.TESSERA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface BackendHarness {
  /** A new, not yet migrated store over this harness's database. */
  createStore(): Store;
  /** Raw SQL with `?` placeholders, straight to the database. */
  rawQuery(sql: string, params?: SqlValue[]): Promise<SqlRow[]>;
  /** Where the SQLite file lives (undefined for PostgreSQL). */
  readonly filePath?: string;
  dispose(): Promise<void>;
}

export interface Backend {
  name: 'sqlite' | 'postgres';
  createHarness(): Promise<BackendHarness>;
}

/** A short-lived connection outside any store, for set-up and raw checks in tests. */
export async function withAdminClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export function randomSchemaName(): string {
  return `tessera_test_${randomBytes(6).toString('hex')}`;
}

const sqliteBackend: Backend = {
  name: 'sqlite',
  async createHarness() {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-store-'));
    const filePath = path.join(directory, 'data', 'tessera.db'); // the store creates `data/`
    const stores: Store[] = [];
    return {
      filePath,
      createStore() {
        const store = new SqliteStore(filePath);
        stores.push(store);
        return store;
      },
      async rawQuery(sql, params = []) {
        const database = new DatabaseSync(filePath, { timeout: 5000 });
        try {
          return database.prepare(sql).all(...params);
        } finally {
          database.close();
        }
      },
      async dispose() {
        for (const store of stores) await store.close();
        fs.rmSync(directory, { recursive: true, force: true });
      },
    };
  },
};

const postgresBackend: Backend = {
  name: 'postgres',
  async createHarness() {
    const schema = randomSchemaName();
    const stores: Store[] = [];
    const withClient = withAdminClient;
    return {
      createStore() {
        const store = new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 4 });
        stores.push(store);
        return store;
      },
      rawQuery: (sql, params = []) =>
        withClient(async (client) => {
          await client.query(`SET search_path TO ${quoteIdentifier(schema)}`);
          let index = 0;
          return (await client.query<SqlRow>(sql.replaceAll('?', () => `$${++index}`), params)).rows;
        }),
      async dispose() {
        for (const store of stores) await store.close();
        await withClient((client) => client.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(schema)} CASCADE`));
      },
    };
  },
};

export const BACKENDS: readonly Backend[] = [sqliteBackend, postgresBackend];

// ---- Fixtures ----

let clock = Date.parse('2030-01-01T00:00:00.000Z');
/** Strictly increasing ISO timestamps, so order by time is predictable. */
export function nextTime(): string {
  clock += 1000;
  return new Date(clock).toISOString();
}

export function makeObject(fields: Partial<StoredObject> = {}): StoredObject {
  const time = nextTime();
  return {
    id: uuidv7(),
    kind: 'client-workload',
    resourceSetId: null,
    name: `object-${randomBytes(4).toString('hex')}`,
    description: '',
    enabled: true,
    spec: {},
    secrets: null,
    lookupKey: null,
    refs: [],
    createdAt: time,
    updatedAt: time,
    ...fields,
  };
}

export function makeResourceSet(name = `set-${randomBytes(4).toString('hex')}`): StoredObject {
  return makeObject({ kind: 'resource-set', name });
}

export function makeAuditEvent(fields: Partial<AuditEvent> = {}): AuditEvent {
  return {
    id: uuidv7(),
    time: nextTime(),
    kind: 'admin.change',
    outcome: 'success',
    reason: null,
    resourceSetId: null,
    actor: null,
    clientWorkloadId: null,
    serverWorkloadId: null,
    objectId: null,
    data: {},
    ...fields,
  };
}

export function makeSigningKey(fields: Partial<SigningKeyRecord> = {}): SigningKeyRecord {
  const kid = fields.kid ?? randomBytes(8).toString('hex');
  return {
    kid,
    alg: 'ES256',
    publicJwk: { kty: 'EC', crv: 'P-256', x: 'eA', y: 'eQ', kid, alg: 'ES256', use: 'sig' },
    privateKey: 'v1.encrypted-envelope',
    createdAt: nextTime(),
    retiredAt: null,
    publishUntil: null,
    ...fields,
  };
}
