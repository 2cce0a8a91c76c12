import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_NOTIFIED_IDS } from './notify.js';
import { PostgresStore, quoteIdentifier } from './postgres.js';
import { TEST_DATABASE_URL, makeObject, makeResourceSet, randomSchemaName, withAdminClient } from '../../test/support/store-backends.js';
import type { ObjectsChange, StoredObject } from './types.js';

/** Cross-replica change notification (PostgreSQL only: SQLite serves a single process). */

/** Polls `condition` until it holds (no fixed sleeps); fails after `timeoutMs`. */
async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Subscribes and records what arrives; resolves once LISTEN is active (its first `{all: true}`). */
async function record(store: PostgresStore): Promise<{ events: ObjectsChange[]; ids: () => string[]; unsubscribe: () => void }> {
  const events: ObjectsChange[] = [];
  const unsubscribe = store.onObjectsChanged((change) => events.push(change));
  await waitFor(() => events.some((event) => event.all === true));
  events.length = 0;
  const ids = (): string[] => events.flatMap((event) => (event.all === true ? [] : event.ids));
  return { events, ids, unsubscribe };
}

describe('PostgresStore change notification', () => {
  let schema: string;
  let applicationName: string;
  let a: PostgresStore;
  let b: PostgresStore;
  const insert = (store: PostgresStore, ...objects: StoredObject[]): Promise<void> =>
    store.transaction(async (tx) => {
      for (const object of objects) await tx.insertObject(object);
    });

  beforeEach(async () => {
    schema = randomSchemaName();
    applicationName = `${schema}_b`;
    const urlB = new URL(TEST_DATABASE_URL);
    urlB.searchParams.set('application_name', applicationName); // lets us find (and kill) B's LISTEN
    a = new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 4 });
    b = new PostgresStore({ connectionString: urlB.toString(), schema, poolSize: 4 });
    await a.migrate();
  });
  afterEach(async () => {
    await a.close();
    await b.close();
    await withAdminClient((client) => client.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(schema)} CASCADE`));
  });

  it("announces a write to the other instance's listener with the ids, not to the writer's own", async () => {
    const onA = await record(a);
    const onB = await record(b);
    const set = makeResourceSet();
    const workload = makeObject({ resourceSetId: set.id });
    await insert(a, set, workload);
    await waitFor(() => onB.ids().length >= 2);
    expect(onB.ids().sort()).toEqual([set.id, workload.id].sort());

    // Update and delete are announced too; a rolled-back transaction is not.
    await a.transaction(async (tx) => {
      await tx.updateObject({ ...workload, name: 'renamed' });
    });
    await a
      .transaction(async (tx) => {
        await tx.insertObject(makeResourceSet());
        throw new Error('roll back');
      })
      .catch(() => undefined);
    await a.transaction(async (tx) => {
      await tx.deleteObject(workload.id);
    });
    await waitFor(() => onB.events.length >= 3);
    expect(onB.events.slice(1)).toEqual([{ ids: [workload.id] }, { ids: [workload.id] }]);

    // Notifications arrive in commit order: once A hears B's later write, it has skipped its own.
    const fromB = makeResourceSet();
    await insert(b, fromB);
    await waitFor(() => onA.events.length >= 1);
    expect(onA.events).toEqual([{ ids: [fromB.id] }]);
  });

  it('splits a batch into payloads under the size limit, or announces everything past a threshold', async () => {
    const onB = await record(b);
    const medium = Array.from({ length: 300 }, () => makeResourceSet());
    await insert(a, ...medium);
    await waitFor(() => onB.ids().length >= medium.length);
    expect(onB.events.length).toBeGreaterThan(1);
    expect(new Set(onB.ids())).toEqual(new Set(medium.map((object) => object.id)));

    onB.events.length = 0;
    await insert(a, ...Array.from({ length: MAX_NOTIFIED_IDS + 1 }, () => makeResourceSet()));
    await waitFor(() => onB.events.length >= 1);
    expect(onB.events).toEqual([{ all: true }]);
  });

  it('stops delivering once unsubscribed', async () => {
    const first = await record(b);
    const second = await record(b);
    first.unsubscribe();
    const set = makeResourceSet();
    await insert(a, set);
    await waitFor(() => second.ids().includes(set.id));
    expect(first.events).toEqual([]);
    second.unsubscribe();
  });

  it('reconnects a killed LISTEN connection and announces everything', async () => {
    const onB = await record(b);
    const killed = await withAdminClient((client) =>
      client.query("SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'", [
        applicationName,
      ]),
    );
    expect(killed.rows).toEqual([{ done: true }]);
    await waitFor(() => onB.events.some((event) => event.all === true));
    // And it listens again.
    const set = makeResourceSet();
    await insert(a, set);
    await waitFor(() => onB.ids().includes(set.id));
    onB.unsubscribe();
  });
});
