import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SecretBox } from '../crypto/secret-box.js';
import { uuidv7 } from '../ids.js';
import { sealSecrets } from '../objects/secrets.js';
import { BACKENDS, makeAuditEvent, makeObject, makeResourceSet } from '../../test/support/store-backends.js';
import type { BackendHarness } from '../../test/support/store-backends.js';
import type { AuditEvent, Store, StoredObject } from '../store/types.js';
import { AuditExporter } from './exporter.js';
import { AuditRetention, type AuditRetentionOptions } from './retention.js';
import { MemorySink, idAt, waitFor } from '../../test/support/audit-helpers.js';

const DAY_MS = 86_400_000;

describe.each(BACKENDS)('AuditRetention ($name)', (backend) => {
  let harness: BackendHarness;
  let store: Store;
  let set: StoredObject;
  const now = Date.now();
  const retentions: AuditRetention[] = [];

  const retention = (options: Partial<AuditRetentionOptions> = {}) => {
    const created = new AuditRetention({ store, maxAgeMs: 30 * DAY_MS, stepSize: 100, pauseMs: 5, ...options });
    retentions.push(created);
    return created;
  };
  /** `count` events `ageDays` old (a millisecond apart), in `resourceSetId`. */
  const events = (count: number, ageDays: number, resourceSetId: string | null = null): AuditEvent[] =>
    Array.from({ length: count }, (_, i) => {
      const ms = now - ageDays * DAY_MS + i;
      return makeAuditEvent({ id: idAt(ms), time: new Date(ms).toISOString(), resourceSetId });
    });
  const append = (list: AuditEvent[]) =>
    store.transaction(async (tx) => {
      for (const event of list) await tx.appendAuditEvent(event);
    });
  const count = async (resourceSetId?: string | null) => {
    const [row] = await harness.rawQuery(
      resourceSetId === undefined
        ? 'SELECT count(*) AS n FROM audit_events'
        : resourceSetId === null
          ? 'SELECT count(*) AS n FROM audit_events WHERE resource_set_id IS NULL'
          : 'SELECT count(*) AS n FROM audit_events WHERE resource_set_id = ?',
      resourceSetId ? [resourceSetId] : [],
    );
    return Number(row!.n);
  };

  beforeEach(async () => {
    harness = await backend.createHarness();
    store = harness.createStore();
    await store.migrate();
    set = makeResourceSet();
    await store.transaction((tx) => tx.insertObject(set));
  });
  afterEach(async () => {
    await Promise.all(retentions.splice(0).map((each) => each.stop()));
    await harness.dispose();
  });

  it('deletes every event older than the retention age, in steps, and keeps the younger ones', async () => {
    await append([...events(250, 31), ...events(30, 45, set.id), ...events(20, 29), ...events(5, 0, set.id)]);
    const pruner = retention();
    expect(await pruner.runOnce()).toEqual({ deleted: 280, kept: 0, steps: 3 });
    expect(await count()).toBe(25);
    expect(await pruner.runOnce()).toEqual({ deleted: 0, kept: 0, steps: 1 });
    // Another replica's pass waits for the lease, which lasts an interval.
    expect(await retention().runOnce()).toBeUndefined();
  });

  it('lets other transactions in between its steps', async () => {
    await append(events(500, 40));
    const order: string[] = [];
    const pass = retention().runOnce().then(() => order.push('pass'));
    // An audit write issued once the pass has started lands before the pass ends.
    await new Promise((resolve) => setTimeout(resolve, 1));
    await append(events(1, 0)).then(() => order.push('append'));
    await pass;
    expect(order).toEqual(['append', 'pass']);
    expect(await count()).toBe(1);
  });

  it('runs a pass on one replica at a time', async () => {
    await append(events(300, 40));
    const other = harness.createStore();
    const passes = await Promise.all([
      retention({ holderId: 'replica-a' }).runOnce(),
      retention({ holderId: 'replica-b', store: other }).runOnce(),
    ]);
    expect(passes.filter((pass) => pass === undefined)).toHaveLength(1);
    expect(passes.find((pass) => pass !== undefined)?.deleted).toBe(300);
    expect(await count()).toBe(0);
  });

  it('runs by itself once started, until stopped', async () => {
    await append(events(10, 40));
    const running = retention({ firstPassDelayMs: 10, intervalMs: 50 });
    running.start();
    await waitFor(async () => (await count()) === 0);
    await append(events(10, 40));
    await waitFor(async () => (await count()) === 0);
    await running.stop();
    await append(events(10, 40));
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(await count()).toBe(10);
  });

  it('never deletes an event a log stream has not exported yet', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-retention-'));
    const box = new SecretBox(randomBytes(32));
    const sink = new MemorySink(50);
    sink.down = true;
    const id = uuidv7();
    const stream = makeObject({
      id,
      kind: 'log-stream',
      resourceSetId: set.id,
      createdAt: new Date(now - 60 * DAY_MS).toISOString(),
      spec: { type: 'webhook', config: { url: 'https://siem.example.test/in', flushIntervalMs: 50, fromBeginning: true } },
      secrets: sealSecrets(box, id, { authorization: 'Bearer x' }),
    });
    await store.transaction((tx) => tx.insertObject(stream));
    const exporter = new AuditExporter({ store, box, dataDir, settleMs: 0, reloadIntervalMs: 100, leaseTtlMs: 3000, createSink: () => sink });
    try {
      await append([...events(120, 40, set.id), ...events(80, 40, null)]);
      exporter.start();
      // The destination is down: the set's old events stay, the others go.
      const pruner = retention();
      expect(await pruner.runOnce()).toMatchObject({ deleted: 80, kept: 120 });
      expect(await count(set.id)).toBe(120);
      sink.down = false;
      await waitFor(() => sink.ids().length === 120);
      await waitFor(async () => (await store.getLogStreamCursor(stream.id))?.lastEventId === sink.ids().at(-1));
      expect(await pruner.runOnce()).toMatchObject({ deleted: 120, kept: 0 });
      expect(await count()).toBe(0);
    } finally {
      await exporter.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
