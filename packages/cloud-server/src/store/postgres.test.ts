import { describe, expect, it } from 'vitest';
import { openStore } from './index.js';
import { PostgresStore, quoteIdentifier } from './postgres.js';
import { TEST_DATABASE_URL, makeResourceSet, randomSchemaName, withAdminClient } from '../../test/support/store-backends.js';
import { StoreError } from './types.js';

/** What only the server backend has: schema handling, URL routing, and an unreachable server. */

async function dropSchema(schema: string): Promise<void> {
  await withAdminClient((client) => client.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(schema)} CASCADE`));
}

describe('PostgresStore', () => {
  it('rejects schema names that are not plain lowercase identifiers', () => {
    for (const schema of ['Tessera', '1st', 'a-b', 'x"; DROP SCHEMA public; --', '', 'a'.repeat(64)]) {
      const create = (): PostgresStore => new PostgresStore({ connectionString: TEST_DATABASE_URL, schema });
      expect(create).toThrow(/invalid PostgreSQL schema/);
    }
  });

  it('is opened by openStore for postgres:// and postgresql:// URLs, in its own schema', async () => {
    for (const scheme of ['postgres', 'postgresql']) {
      const schema = randomSchemaName();
      const url = TEST_DATABASE_URL.replace(/^[a-z]+:/, `${scheme}:`);
      const store = await openStore({ databaseUrl: url, schema });
      try {
        expect(store.dialect).toBe('postgres');
        const set = makeResourceSet();
        await store.transaction((tx) => tx.insertObject(set));
        expect(await store.getObject(set.id)).toEqual(set);
        const tables = await withAdminClient((client) =>
          client.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name', [
            schema,
          ]),
        );
        expect(tables.rows.map((row: { table_name: string }) => row.table_name)).toEqual([
          'audit_events',
          'leases',
          'log_stream_cursors',
          'meta',
          'object_refs',
          'objects',
          'request_metric_reports',
          'request_metrics',
          'schema_migrations',
          'signing_keys',
        ]);
      } finally {
        await store.close();
        await dropSchema(schema);
      }
    }
  });

  it('survives a connection killed mid-transaction: unavailable, rolled back, then recovered', async () => {
    const schema = randomSchemaName();
    const url = new URL(TEST_DATABASE_URL);
    url.searchParams.set('application_name', schema); // lets us find (and kill) this store's backend
    const store = new PostgresStore({ connectionString: url.toString(), schema, poolSize: 1 });
    try {
      await store.migrate();
      const attempt = store.transaction(async (tx) => {
        await tx.setMeta('before-kill', 'x');
        await withAdminClient((client) =>
          client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [schema]),
        );
        await new Promise((resolve) => setTimeout(resolve, 100)); // the client notices while idle
        await tx.setMeta('after-kill', 'x');
      });
      const error: unknown = await attempt.then(
        () => undefined,
        (rejection: unknown) => rejection,
      );
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).code).toBe('unavailable');
      await store.transaction((tx) => tx.setMeta('recovered', 'yes'));
      expect(await store.getMeta('recovered')).toBe('yes');
      expect(await store.getMeta('before-kill')).toBeUndefined();
    } finally {
      await store.close();
      await dropSchema(schema);
    }
  });

  it('reports an unreachable server as unavailable', async () => {
    const store = new PostgresStore({
      connectionString: 'postgres://postgres@127.0.0.1:1/test',
      schema: 'unused',
      connectionTimeoutMillis: 2000,
    });
    try {
      for (const attempt of [store.ping(), store.getMeta('x'), store.migrate(), store.transaction(async () => 1)]) {
        const error: unknown = await attempt.then(
          () => undefined,
          (rejection: unknown) => rejection,
        );
        expect(error).toBeInstanceOf(StoreError);
        expect((error as StoreError).code).toBe('unavailable');
      }
    } finally {
      await store.close();
    }
  });
});
