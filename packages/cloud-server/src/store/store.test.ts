import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { idFloor } from '../audit/stream-runner.js';
import { idAt } from '../../test/support/audit-helpers.js';
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from './migrations.js';
import { BACKENDS, makeAuditEvent, makeObject, makeResourceSet, makeSigningKey, nextTime } from '../../test/support/store-backends.js';
import type { BackendHarness } from '../../test/support/store-backends.js';
import { StoreError } from './types.js';
import type { AuditEvent, Store, StoreErrorCode, StoredObject } from './types.js';

/** The one suite both backends must pass. */

async function expectStoreError(promise: Promise<unknown>, code: StoreErrorCode): Promise<StoreError> {
  const error: unknown = await promise.then(
    () => undefined,
    (rejection: unknown) => rejection,
  );
  expect(error).toBeInstanceOf(StoreError);
  expect((error as StoreError).code).toBe(code);
  return error as StoreError;
}

describe.each(BACKENDS)('store ($name)', (backend) => {
  let harness: BackendHarness;
  let store: Store;
  const insert = (...objects: StoredObject[]): Promise<void> =>
    store.transaction(async (tx) => {
      for (const object of objects) await tx.insertObject(object);
    });

  beforeEach(async () => {
    harness = await backend.createHarness();
    store = harness.createStore();
    await store.migrate();
  });
  afterEach(async () => {
    await harness.dispose();
  });

  describe('migrations', () => {
    it('keeps versions ascending and unique', () => {
      const versions = MIGRATIONS.map((migration) => migration.version);
      expect(versions).toEqual([...new Set(versions)].sort((a, b) => a - b));
    });

    it('is a no-op when run again, keeping the data', async () => {
      const set = makeResourceSet();
      await insert(set);
      await store.migrate();
      const applied = await harness.rawQuery('SELECT version FROM schema_migrations ORDER BY version');
      expect(applied.map((row) => Number(row.version))).toEqual(MIGRATIONS.map((migration) => migration.version));
      expect(await store.getObject(set.id)).toEqual(set);
    });

    it("moves a version 3 database to admin-key names unique per scope (version 4), keeping its data and the other names' index", async () => {
      // Back to version 3's index, with data in it.
      await harness.rawQuery('DROP INDEX objects_kind_set_name');
      await harness.rawQuery("CREATE UNIQUE INDEX objects_kind_set_name ON objects (kind, COALESCE(resource_set_id, ''), name)");
      await harness.rawQuery('DELETE FROM schema_migrations WHERE version = 4');
      const set = makeResourceSet('kept');
      const key = makeObject({ kind: 'admin-key', name: 'ops' });
      await insert(set, key);
      await expectStoreError(insert(makeObject({ kind: 'admin-key', name: 'ops' })), 'unique_violation');
      await harness.createStore().migrate();
      expect(await store.getObject(set.id)).toEqual(set);
      expect(await store.getObject(key.id)).toEqual(key);
      await insert(makeObject({ kind: 'admin-key', name: 'ops' }));
      await expectStoreError(insert(makeResourceSet('kept')), 'unique_violation');
    });

    it('lets several instances migrate a fresh database at once', async () => {
      const fresh = await backend.createHarness();
      try {
        const stores = [fresh.createStore(), fresh.createStore(), fresh.createStore()];
        await Promise.all(stores.map((each) => each.migrate()));
        const applied = await fresh.rawQuery('SELECT version FROM schema_migrations');
        expect(applied).toHaveLength(MIGRATIONS.length);
      } finally {
        await fresh.dispose();
      }
    });

    it('refuses to start on a schema newer than the code', async () => {
      const future = LATEST_SCHEMA_VERSION + 1;
      await harness.rawQuery('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [
        future,
        'from_the_future',
        nextTime(),
      ]);
      const error = await expectStoreError(harness.createStore().migrate(), 'migration_failed');
      expect(error.message).toMatch(/downgrade is not supported/);
      await expectStoreError(store.migrate(), 'migration_failed');
    });

    it('answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });

  describe('objects', () => {
    it('round-trips every field through get, getByName and getByLookupKey', async () => {
      const set = makeResourceSet('prod');
      const adminKey = makeObject({ kind: 'admin-key', name: 'ci', lookupKey: 'sha256:abc', secrets: 'v1.sealed' });
      const workload = makeObject({
        resourceSetId: set.id,
        name: 'billing "api" — café ☕ 𝄞',
        description: "it's \"quoted\"\nand multi-line",
        enabled: false,
        spec: { nested: { list: [1, 2.5, true, null], text: 'ünïcödé \u0001 "q" \\ 🚀' }, empty: {} },
      });
      await insert(set, adminKey, workload);
      expect(await store.getObject(workload.id)).toEqual(workload);
      expect(await store.getObjectByName('client-workload', set.id, workload.name)).toEqual(workload);
      expect(await store.getObjectByName('admin-key', null, 'ci')).toEqual(adminKey);
      expect(await store.getObjectByLookupKey('sha256:abc')).toEqual(adminKey);
      expect((await store.getObject(set.id))?.secrets).toBeNull();
      expect(await store.getObject('missing')).toBeUndefined();
      expect(await store.getObjectByName('client-workload', null, workload.name)).toBeUndefined();
      expect(await store.getObjectByLookupKey('sha256:other')).toBeUndefined();
    });

    it('keeps names unique within (kind, resource set), and for resource sets', async () => {
      const [setA, setB] = [makeResourceSet('a'), makeResourceSet('b')];
      const first = makeObject({ resourceSetId: setA.id, name: 'web' });
      await insert(setA, setB, first);
      await expectStoreError(insert(makeObject({ resourceSetId: setA.id, name: 'web' })), 'unique_violation');
      await insert(makeObject({ resourceSetId: setB.id, name: 'web' })); // another set
      await insert(makeObject({ resourceSetId: setA.id, name: 'web', kind: 'server-workload' })); // another kind
      await expectStoreError(insert(makeResourceSet('a')), 'unique_violation');
      // Admin keys' names are unique per scope, which the object service checks (objects/admin-keys.ts).
      await insert(makeObject({ kind: 'admin-key', name: 'ops' }), makeObject({ kind: 'admin-key', name: 'ops' }));
      await expectStoreError(insert({ ...first, name: 'other' }), 'unique_violation'); // same id
    });

    it('reports violations without row values in the message', async () => {
      const secretName = 'name-that-must-not-leak';
      await insert(makeResourceSet(secretName));
      const error = await expectStoreError(insert(makeResourceSet(secretName)), 'unique_violation');
      expect(error.message).not.toContain(secretName);
      expect(error.cause).toBeDefined();
    });

    it('keeps lookup keys unique, while many objects have none', async () => {
      await insert(makeObject({ kind: 'admin-key', lookupKey: 'hash-1' }), makeObject(), makeObject());
      await expectStoreError(insert(makeObject({ kind: 'admin-key', lookupKey: 'hash-1' })), 'unique_violation');
    });

    it('stores SQL-injection-shaped values verbatim', async () => {
      const name = "'); DROP TABLE objects;--";
      const set = makeResourceSet(name);
      const workload = makeObject({ resourceSetId: set.id, name: `${name} "x" ?`, description: '$1 ? ?' });
      await insert(set, workload);
      expect(await store.getObjectByName('resource-set', null, name)).toEqual(set);
      expect(await store.getObjectByName('client-workload', set.id, workload.name)).toEqual(workload);
      expect(await store.listObjects({ kind: 'client-workload', name: workload.name, limit: 10 })).toEqual([workload]);
    });
  });

  describe('references', () => {
    it('rejects a dangling ref or resource set, writing nothing', async () => {
      const dangling = makeObject({ refs: ['no-such-object'] });
      await expectStoreError(insert(dangling), 'foreign_key_violation');
      expect(await store.getObject(dangling.id)).toBeUndefined();
      await expectStoreError(insert(makeObject({ resourceSetId: 'no-such-set' })), 'foreign_key_violation');
    });

    it('refuses to delete a referenced object until the referrer is gone', async () => {
      const set = makeResourceSet();
      const condition = makeObject({ kind: 'access-condition', resourceSetId: set.id });
      const policy = makeObject({ kind: 'access-policy', resourceSetId: set.id, refs: [condition.id] });
      await insert(set, condition, policy);
      await expectStoreError(store.transaction((tx) => tx.deleteObject(condition.id)), 'foreign_key_violation');
      expect(await store.getObject(condition.id)).toEqual(condition);
      const referrers = await store.listReferrers(condition.id);
      expect(referrers).toEqual([{ id: policy.id, kind: 'access-policy', name: policy.name }]);
      expect(await store.transaction((tx) => tx.deleteObject(policy.id))).toBe(true);
      expect(await store.transaction((tx) => tx.deleteObject(condition.id))).toBe(true);
      expect(await store.transaction((tx) => tx.deleteObject(condition.id))).toBe(false);
    });

    it('refuses to delete a resource set that still has objects', async () => {
      const set = makeResourceSet();
      const member = makeObject({ resourceSetId: set.id });
      await insert(set, member);
      await expectStoreError(store.transaction((tx) => tx.deleteObject(set.id)), 'foreign_key_violation');
      expect(await store.listReferrers(set.id)).toEqual([{ id: member.id, kind: member.kind, name: member.name }]);
      await store.transaction(async (tx) => {
        await tx.deleteObject(member.id);
        await tx.deleteObject(set.id);
      });
      expect(await store.getObject(set.id)).toBeUndefined();
    });

    it('replaces every column and the refs on update, deduplicated and sorted', async () => {
      const set = makeResourceSet();
      const [a, b, c] = [makeObject({ resourceSetId: set.id }), makeObject({ resourceSetId: set.id }), makeObject()];
      const policy = makeObject({ kind: 'access-policy', resourceSetId: set.id, refs: [b.id, a.id, b.id] });
      await insert(set, a, b, c, policy);
      expect((await store.getObject(policy.id))?.refs).toEqual([a.id, b.id].sort());
      const updated: StoredObject = {
        ...policy,
        name: 'renamed',
        enabled: false,
        spec: { rules: ['x'] },
        secrets: 'v1.sealed',
        refs: [c.id, b.id],
        updatedAt: nextTime(),
      };
      await store.transaction((tx) => tx.updateObject(updated));
      expect(await store.getObject(policy.id)).toEqual({ ...updated, refs: [b.id, c.id].sort() });
      expect(await store.listReferrers(a.id)).toEqual([]);
      await store.transaction((tx) => tx.deleteObject(a.id));
      await expect(store.transaction((tx) => tx.updateObject(makeObject()))).rejects.toThrow(/no object/);
    });
  });

  describe('transactions', () => {
    it('rolls back everything when the callback throws, and rethrows its error', async () => {
      const set = makeResourceSet();
      const failure = new Error('boom');
      const attempt = store.transaction(async (tx) => {
        await tx.insertObject(set);
        await tx.appendAuditEvent(makeAuditEvent({ objectId: set.id }));
        await tx.setMeta('rolled-back', 'yes');
        throw failure;
      });
      await expect(attempt).rejects.toBe(failure);
      expect(await store.getObject(set.id)).toBeUndefined();
      expect(await store.listAuditEvents({ objectId: set.id, limit: 10 })).toEqual([]);
      expect(await store.getMeta('rolled-back')).toBeUndefined();
    });

    it('stays usable after a caught constraint error, which left nothing behind', async () => {
      const set = makeResourceSet();
      const broken = makeObject({ resourceSetId: set.id, refs: ['no-such-object'] });
      await store.transaction(async (tx) => {
        await tx.insertObject(set);
        await expectStoreError(tx.insertObject(broken), 'foreign_key_violation');
        await expectStoreError(tx.insertObject(makeResourceSet(set.name)), 'unique_violation');
        expect(await tx.getObject(broken.id)).toBeUndefined();
        await tx.setMeta('after-error', 'ok');
      });
      expect(await store.getObject(set.id)).toEqual(set);
      expect(await store.getObject(broken.id)).toBeUndefined();
      expect(await store.getMeta('after-error')).toBe('ok');
    });

    it('lands every one of 20 concurrent transactions', async () => {
      const set = makeResourceSet();
      await insert(set);
      const objects = Array.from({ length: 20 }, () => makeObject({ resourceSetId: set.id }));
      await Promise.all(
        objects.map((object) =>
          store.transaction(async (tx) => {
            await tx.insertObject(object);
            await tx.appendAuditEvent(makeAuditEvent({ objectId: object.id }));
          }),
        ),
      );
      const listed = await store.listObjects({ kind: 'client-workload', resourceSetIds: [set.id], limit: 100 });
      expect(listed.map((object) => object.id)).toEqual(objects.map((object) => object.id).sort());
      expect(await store.listAuditEvents({ limit: 100 })).toHaveLength(20);
    });

    it('keeps uncommitted writes invisible to reads outside the transaction', async () => {
      const set = makeResourceSet();
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let written!: () => void;
      const wasWritten = new Promise<void>((resolve) => (written = resolve));
      const running = store.transaction(async (tx) => {
        await tx.insertObject(set);
        expect(await tx.getObject(set.id)).toEqual(set); // visible to the transaction itself
        written();
        await released;
      });
      await wasWritten;
      expect(await store.getObject(set.id)).toBeUndefined();
      expect(await store.listObjects({ kind: 'resource-set', limit: 10 })).toEqual([]);
      release();
      await running;
      expect(await store.getObject(set.id)).toEqual(set);
    });

    it('disables a transaction handle once its transaction has ended', async () => {
      let leaked: Parameters<Parameters<Store['transaction']>[0]>[0] | undefined;
      await store.transaction(async (tx) => {
        leaked = tx;
      });
      await expect(leaked!.setMeta('late', 'write')).rejects.toThrow(/after its transaction ended/);
      expect(await store.getMeta('late')).toBeUndefined();
    });

    it('refuses nested transactions instead of deadlocking', async () => {
      await expect(store.transaction(() => store.transaction(async () => 1))).rejects.toThrow(/nested/);
    });
  });

  describe('listObjects', () => {
    it('pages by id and filters by resource set, name and kind', async () => {
      const [setA, setB] = [makeResourceSet(), makeResourceSet()];
      const inA = Array.from({ length: 5 }, (_, index) => makeObject({ resourceSetId: setA.id, name: `a${index}` }));
      const inB = Array.from({ length: 3 }, (_, index) => makeObject({ resourceSetId: setB.id, name: `b${index}` }));
      await insert(setA, setB, ...inA, ...inB, makeObject({ kind: 'server-workload', resourceSetId: setA.id }));
      const all = [...inA, ...inB].sort((x, y) => (x.id < y.id ? -1 : 1));

      const first = await store.listObjects({ kind: 'client-workload', limit: 3 });
      expect(first).toEqual(all.slice(0, 3));
      const second = await store.listObjects({ kind: 'client-workload', afterId: first[2]!.id, limit: 3 });
      expect(second).toEqual(all.slice(3, 6));
      const last = await store.listObjects({ kind: 'client-workload', afterId: second[2]!.id, limit: 3 });
      expect(last).toEqual(all.slice(6));

      expect(await store.listObjects({ kind: 'client-workload', resourceSetIds: [setA.id], limit: 10 })).toEqual(inA);
      const both = await store.listObjects({ kind: 'client-workload', resourceSetIds: [setA.id, setB.id], limit: 10 });
      expect(both).toHaveLength(8);
      expect(await store.listObjects({ kind: 'client-workload', resourceSetIds: [], limit: 10 })).toEqual([]);
      expect(await store.listObjects({ kind: 'client-workload', name: 'b1', limit: 10 })).toEqual([inB[1]]);
      expect(await store.listObjects({ kind: 'server-workload', limit: 10 })).toHaveLength(1);
      expect(await store.listObjects({ kind: 'resource-set', limit: 10 })).toHaveLength(2);
      expect(await store.listObjects({ kind: 'client-workload', limit: 0 })).toEqual([]);
    });

    it('returns refs with listed objects, limiting objects rather than ref rows', async () => {
      const targets = Array.from({ length: 4 }, () => makeObject({ kind: 'access-condition' }));
      const policies = [
        makeObject({ kind: 'access-policy', refs: targets.map((target) => target.id) }),
        makeObject({ kind: 'access-policy' }),
      ];
      await insert(...targets, ...policies);
      const listed = await store.listObjects({ kind: 'access-policy', limit: 2 });
      expect(listed).toEqual(policies.map((policy) => ({ ...policy, refs: [...policy.refs].sort() })));
    });
  });

  describe('audit events', () => {
    it('lists newest first, with every filter', async () => {
      const edge = { kind: 'edge.credential', resourceSetId: 'set-a', clientWorkloadId: 'cw-1' };
      const e0 = makeAuditEvent({ ...edge, kind: 'edge.attest', outcome: 'allow' });
      const e1 = makeAuditEvent({ ...edge, outcome: 'deny', reason: 'no policy', serverWorkloadId: 'sw-1' });
      const e2 = makeAuditEvent({ actor: 'key-1', objectId: 'obj-1', data: { change: 'update', fields: ['name'] } });
      const e3 = makeAuditEvent({ ...edge, outcome: 'error', resourceSetId: 'set-b', clientWorkloadId: 'cw-2' });
      e3.serverWorkloadId = 'sw-1';
      await store.transaction(async (tx) => {
        for (const event of [e0, e1, e2, e3]) await tx.appendAuditEvent(event);
      });
      const list = (query: Partial<Parameters<Store['listAuditEvents']>[0]>) =>
        store.listAuditEvents({ limit: 10, ...query });

      expect(await list({})).toEqual([e3, e2, e1, e0]);
      expect(await list({ limit: 2 })).toEqual([e3, e2]);
      expect(await list({ beforeId: e2.id })).toEqual([e1, e0]);
      expect(await list({ resourceSetIds: ['set-a'] })).toEqual([e1, e0]);
      expect(await list({ resourceSetIds: ['set-a', 'set-b'] })).toEqual([e3, e1, e0]);
      expect(await list({ resourceSetIds: [] })).toEqual([]);
      expect(await list({ since: e1.time })).toEqual([e3, e2, e1]);
      expect(await list({ until: e1.time })).toEqual([e0]);
      expect(await list({ since: e1.time, until: e3.time })).toEqual([e2, e1]);
      expect(await list({ kind: 'edge.credential' })).toEqual([e3, e1]);
      expect(await list({ outcome: 'deny' })).toEqual([e1]);
      expect(await list({ actor: 'key-1' })).toEqual([e2]);
      expect(await list({ clientWorkloadId: 'cw-1' })).toEqual([e1, e0]);
      expect(await list({ serverWorkloadId: 'sw-1' })).toEqual([e3, e1]);
      expect(await list({ objectId: 'obj-1' })).toEqual([e2]);
      expect(await list({ kind: 'edge.credential', clientWorkloadId: 'cw-2' })).toEqual([e3]);
    });

    it('outlives the objects it mentions', async () => {
      const set = makeResourceSet();
      await insert(set);
      const event = makeAuditEvent({ resourceSetId: set.id, objectId: set.id });
      await store.transaction(async (tx) => {
        await tx.appendAuditEvent(event);
        await tx.deleteObject(set.id);
      });
      expect(await store.listAuditEvents({ objectId: set.id, limit: 10 })).toEqual([event]);
    });
  });

  describe('audit export support', () => {
    it('lists events after a cursor, oldest first, by resource set, below an upper bound', async () => {
      const events = [
        makeAuditEvent({ resourceSetId: 'set-a' }),
        makeAuditEvent({ resourceSetId: 'set-b' }),
        makeAuditEvent({ resourceSetId: 'set-a' }),
        makeAuditEvent({ resourceSetId: null }),
        makeAuditEvent({ resourceSetId: 'set-a' }),
      ];
      // Inserted newest first: the order of the answer comes from the ids, not from insertion.
      await store.transaction(async (tx) => {
        for (const event of [...events].reverse()) await tx.appendAuditEvent(event);
      });
      const [a0, b1, a2, n3, a4] = events as [typeof events[0], typeof events[0], typeof events[0], typeof events[0], typeof events[0]];
      const after = (afterId: string | null, options: Partial<Parameters<Store['listAuditEventsAfter']>[1]> = {}) =>
        store.listAuditEventsAfter(afterId, { resourceSetId: null, limit: 10, ...options });

      expect(await after(null)).toEqual(events);
      expect(await after(null, { limit: 2 })).toEqual([a0, b1]);
      expect(await after(b1.id)).toEqual([a2, n3, a4]);
      expect(await after(null, { resourceSetId: 'set-a' })).toEqual([a0, a2, a4]);
      expect(await after(a0.id, { resourceSetId: 'set-a', limit: 1 })).toEqual([a2]);
      expect(await after(null, { resourceSetId: 'set-a', beforeId: a4.id })).toEqual([a0, a2]);
      expect(await after(a4.id)).toEqual([]);
      expect(await after(null, { resourceSetId: 'no-such-set' })).toEqual([]);
      expect(await after(null, { limit: 0 })).toEqual([]);
    });

    it('sets, overwrites and deletes log stream cursors', async () => {
      expect(await store.getLogStreamCursor('stream-1')).toBeUndefined();
      const first = nextTime();
      await store.transaction((tx) => tx.setLogStreamCursor('stream-1', 'event-1', first));
      expect(await store.getLogStreamCursor('stream-1')).toEqual({ streamId: 'stream-1', lastEventId: 'event-1', updatedAt: first });
      const second = nextTime();
      await store.transaction(async (tx) => {
        await tx.setLogStreamCursor('stream-1', 'event-2', second);
        await tx.setLogStreamCursor('stream-2', 'event-9', second);
      });
      expect(await store.getLogStreamCursor('stream-1')).toEqual({ streamId: 'stream-1', lastEventId: 'event-2', updatedAt: second });
      await store.transaction((tx) => tx.deleteLogStreamCursor('stream-1'));
      await store.transaction((tx) => tx.deleteLogStreamCursor('stream-1')); // deleting twice is fine
      expect(await store.getLogStreamCursor('stream-1')).toBeUndefined();
      expect((await store.getLogStreamCursor('stream-2'))?.lastEventId).toBe('event-9');
    });

    it('grants a lease to one holder until it expires or is released', async () => {
      const t0 = new Date('2030-06-01T00:00:00.000Z');
      const at = (ms: number) => new Date(t0.getTime() + ms);
      const acquire = (holder: string, now: Date) => store.transaction((tx) => tx.tryAcquireLease('stream:x', holder, 30_000, now));
      expect(await acquire('replica-a', t0)).toBe(true);
      expect(await acquire('replica-b', at(1_000))).toBe(false);
      expect(await acquire('replica-a', at(20_000))).toBe(true); // renewal: now valid until 50 s
      expect(await acquire('replica-b', at(40_000))).toBe(false);
      expect(await acquire('replica-b', at(50_001))).toBe(true); // expired: taken over
      expect(await acquire('replica-a', at(50_002))).toBe(false);
      expect(await store.transaction((tx) => tx.releaseLease('stream:x', 'replica-a'))).toBe(false);
      expect(await store.transaction((tx) => tx.releaseLease('stream:x', 'replica-b'))).toBe(true);
      expect(await acquire('replica-a', at(50_003))).toBe(true);
      expect(await store.transaction((tx) => tx.tryAcquireLease('stream:y', 'replica-b', 1, at(50_004)))).toBe(true);
      const rows = await harness.rawQuery('SELECT name, holder, expires_at FROM leases ORDER BY name');
      expect(rows.map((row) => ({ ...row }))).toEqual([
        { name: 'stream:x', holder: 'replica-a', expires_at: at(80_003).toISOString() },
        { name: 'stream:y', holder: 'replica-b', expires_at: at(50_005).toISOString() },
      ]);
    });

    it('lets exactly one of several racing instances take an expired lease', async () => {
      const now = new Date('2030-06-01T00:00:00.000Z');
      await store.transaction((tx) => tx.tryAcquireLease('race', 'old', 1000, new Date(now.getTime() - 5000)));
      const others = [harness.createStore(), harness.createStore(), harness.createStore()];
      const results = await Promise.all(
        [store, ...others].flatMap((each, index) =>
          [0, 1].map((attempt) =>
            each.transaction((tx) => tx.tryAcquireLease('race', `holder-${index}-${attempt}`, 30_000, now)),
          ),
        ),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
    });
  });

  describe('audit retention', () => {
    const t0 = Date.parse('2030-03-01T00:00:00.000Z');
    const eventAt = (ms: number, fields: Partial<AuditEvent> = {}) =>
      makeAuditEvent({ id: idAt(ms), time: new Date(ms).toISOString(), ...fields });
    const append = (events: AuditEvent[]) =>
      store.transaction(async (tx) => {
        for (const event of events) await tx.appendAuditEvent(event);
      });
    const remainingIds = async () => (await store.listAuditEventsAfter(null, { resourceSetId: null, limit: 100 })).map((e) => e.id);
    const prune = (afterId: string | null, beforeId: string, limit: number) =>
      store.transaction((tx) => tx.pruneAuditEvents({ afterId, beforeId, limit }));

    it('deletes events older than the cutoff in bounded steps, oldest first, and nothing newer', async () => {
      const events = Array.from({ length: 7 }, (_, i) => eventAt(t0 + i * 60_000));
      await append(events);
      const cutoff = idFloor(t0 + 4 * 60_000); // events 0 to 3 are older
      expect(await prune(null, cutoff, 2)).toEqual({ examined: 2, deleted: 2, lastId: events[1]!.id });
      expect(await prune(events[1]!.id, cutoff, 2)).toEqual({ examined: 2, deleted: 2, lastId: events[3]!.id });
      expect(await prune(events[3]!.id, cutoff, 2)).toEqual({ examined: 0, deleted: 0, lastId: null });
      expect(await remainingIds()).toEqual(events.slice(4).map((e) => e.id));
    });

    it('keeps what a log stream of the event\'s resource set has not exported, in that set only', async () => {
      const [setA, setB, setC] = [makeResourceSet(), makeResourceSet(), makeResourceSet()];
      const stream = (set: StoredObject, enabled = true) =>
        makeObject({ kind: 'log-stream', resourceSetId: set.id, enabled, spec: { type: 'file', config: { fileName: 'a.jsonl' } } });
      const [fast, slow, stuck, paused] = [stream(setA), stream(setA), stream(setB), stream(setC, false)];
      await insert(setA, setB, setC, fast, slow, stuck, paused);
      const a0 = eventAt(t0, { resourceSetId: setA.id });
      const a1 = eventAt(t0 + 1000, { resourceSetId: setA.id });
      const a2 = eventAt(t0 + 2000, { resourceSetId: setA.id });
      const b0 = eventAt(t0 + 3000, { resourceSetId: setB.id });
      const c0 = eventAt(t0 + 4000, { resourceSetId: setC.id });
      const n0 = eventAt(t0 + 5000, { resourceSetId: null });
      await append([a0, a1, a2, b0, c0, n0]);
      // Set A's streams have exported up to a1 and a0; set B's stream and set C's disabled one
      // nothing yet (a disabled stream resumes at its cursor). No stream exports events without a set.
      await store.transaction(async (tx) => {
        await tx.setLogStreamCursor(fast.id, a1.id, nextTime());
        await tx.setLogStreamCursor(slow.id, a0.id, nextTime());
      });
      expect(await prune(null, idFloor(t0 + 3_600_000), 100)).toEqual({ examined: 6, deleted: 2, lastId: n0.id });
      expect(await remainingIds()).toEqual([a1.id, a2.id, b0.id, c0.id]);
      // What every stream of the set has exported goes: a1 (now exported by both), not a2 (by one).
      await store.transaction(async (tx) => {
        await tx.setLogStreamCursor(slow.id, a2.id, nextTime());
        await tx.setLogStreamCursor(paused.id, c0.id, nextTime());
      });
      expect(await prune(null, idFloor(t0 + 3_600_000), 100)).toMatchObject({ examined: 4, deleted: 2 });
      expect(await remainingIds()).toEqual([a2.id, b0.id]);
    });
  });

  describe('signing keys and meta', () => {
    it('inserts, lists by creation time, updates and deletes signing keys', async () => {
      const older = makeSigningKey({ kid: 'z-older' });
      const newer = makeSigningKey({ kid: 'a-newer' });
      await store.transaction(async (tx) => {
        await tx.insertSigningKey(newer);
        await tx.insertSigningKey(older);
      });
      // Inserted in the other order and with kids sorting the other way: created_at decides.
      expect(older.createdAt < newer.createdAt).toBe(true);
      expect(await store.listSigningKeys()).toEqual([older, newer]);
      const retired = { ...older, retiredAt: nextTime(), publishUntil: nextTime() };
      await store.transaction((tx) => tx.updateSigningKey(retired));
      expect(await store.listSigningKeys()).toEqual([retired, newer]);
      await expectStoreError(store.transaction((tx) => tx.insertSigningKey(newer)), 'unique_violation');
      await store.transaction((tx) => tx.deleteSigningKey(older.kid));
      expect(await store.listSigningKeys()).toEqual([newer]);
    });

    it('gets and overwrites meta values', async () => {
      expect(await store.getMeta('cluster-id')).toBeUndefined();
      await store.transaction((tx) => tx.setMeta('cluster-id', 'first'));
      expect(await store.getMeta('cluster-id')).toBe('first');
      await store.transaction((tx) => tx.setMeta('cluster-id', 'second ☕ \'"'));
      expect(await store.getMeta('cluster-id')).toBe('second ☕ \'"');
    });
  });
});
