import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PostgresStore, quoteIdentifier } from '../store/postgres.js';
import { TEST_DATABASE_URL, makeObject, makeResourceSet, randomSchemaName } from '../../test/support/store-backends.js';
import type { StoredObject } from '../store/types.js';
import { PolicyIndexHolder } from './index-holder.js';

/** Two replicas' holders on one PostgreSQL schema: writes through one reach the other's snapshot. */

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('PolicyIndexHolder across PostgreSQL replicas', () => {
  let schema: string;
  let storeA: PostgresStore;
  let storeB: PostgresStore;
  let holderB: PolicyIndexHolder;

  beforeEach(async () => {
    schema = randomSchemaName();
    storeA = new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 4 });
    storeB = new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 4 });
    await storeA.migrate();
    holderB = await PolicyIndexHolder.create(storeB);
  });
  afterEach(async () => {
    holderB.close();
    await storeA.close();
    await storeB.close();
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(schema)} CASCADE`).finally(() => client.end());
  });

  it('picks up a policy created, changed and deleted through another store', async () => {
    const set = makeResourceSet();
    const server = makeObject({
      kind: 'server-workload',
      resourceSetId: set.id,
      spec: { host: 'billing.internal', port: 443, scheme: 'https', pathPrefix: '/', injection: { kind: 'header', name: 'x', format: '{token}' } },
    });
    const client = makeObject({ kind: 'client-workload', resourceSetId: set.id, spec: { identities: [] } });
    const policy: StoredObject = makeObject({
      kind: 'access-policy',
      resourceSetId: set.id,
      spec: { clientWorkloadIds: [client.id], serverWorkloadId: server.id, trustProviderIds: [], accessConditionIds: [], credentialProviderId: 'none' },
    });
    await storeA.transaction(async (tx) => {
      for (const object of [set, server, client, policy]) await tx.insertObject(object);
    });
    await waitFor(() => holderB.current.policiesFor(client.id, server.id).length === 1);
    expect(holderB.current.directoryFor(client.id).map((entry) => entry.id)).toEqual([server.id]);

    await storeA.transaction((tx) => tx.updateObject({ ...policy, enabled: false }));
    await waitFor(() => holderB.current.policiesFor(client.id, server.id).length === 0);

    await storeA.transaction((tx) => tx.updateObject({ ...policy, name: 'renamed' }));
    await waitFor(() => holderB.current.policiesFor(client.id, server.id)[0]?.name === 'renamed');

    await storeA.transaction(async (tx) => {
      await tx.deleteObject(policy.id);
    });
    await waitFor(() => holderB.current.policiesFor(client.id, server.id).length === 0);
  });

  it('reloads everything when told changes may have been missed', async () => {
    const set = makeResourceSet();
    const many = Array.from({ length: 600 }, () => makeObject({ kind: 'client-workload', resourceSetId: set.id, spec: { identities: [] } }));
    await storeA.transaction(async (tx) => {
      await tx.insertObject(set);
      for (const object of many) await tx.insertObject(object);
    });
    await waitFor(() => many.every((object) => holderB.current.client(object.id) !== undefined), 5000);
  });
});
