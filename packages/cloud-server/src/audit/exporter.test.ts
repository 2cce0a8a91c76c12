import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SecretBox } from '../crypto/secret-box.js';
import { uuidv7 } from '../ids.js';
import { sealSecrets } from '../objects/secrets.js';
import { BACKENDS, makeAuditEvent, makeObject, makeResourceSet } from '../../test/support/store-backends.js';
import type { BackendHarness } from '../../test/support/store-backends.js';
import type { AuditEvent, Store, StoredObject } from '../store/types.js';
import { AuditExporter, type AuditExporterOptions } from './exporter.js';
import { DestinationGuard } from '../egress/destination-guard.js';
import { MemorySink, idAt, waitFor } from '../../test/support/audit-helpers.js';

describe.each(BACKENDS)('AuditExporter ($name)', (backend) => {
  let harness: BackendHarness;
  let store: Store;
  let dataDir: string;
  const box = new SecretBox(randomBytes(32));
  const exporters: AuditExporter[] = [];
  const sinks = new Map<string, MemorySink>();
  let set: StoredObject;

  const exporter = (options: Partial<AuditExporterOptions> = {}): AuditExporter => {
    const created = new AuditExporter({
      store,
      box,
      dataDir,
      settleMs: 0,
      reloadIntervalMs: 200,
      leaseTtlMs: 3000,
      createSink: (stream) => sinks.get(stream.id) ?? new MemorySink(),
      ...options,
    });
    exporters.push(created);
    return created;
  };
  const append = (...events: AuditEvent[]) =>
    store.transaction(async (tx) => {
      for (const event of events) await tx.appendAuditEvent(event);
    });
  const event = (fields: Partial<AuditEvent> = {}) => makeAuditEvent({ resourceSetId: set.id, ...fields });
  const stream = async (fields: Partial<StoredObject> = {}, config: Record<string, unknown> = {}, sink = new MemorySink()) => {
    const id = uuidv7();
    const object = makeObject({
      id,
      kind: 'log-stream',
      resourceSetId: set.id,
      createdAt: new Date().toISOString(),
      spec: { type: 'webhook', config: { url: 'https://siem.example.test/in', flushIntervalMs: 100, ...config } },
      secrets: sealSecrets(box, id, { authorization: 'Bearer x' }),
      ...fields,
    });
    await store.transaction((tx) => tx.insertObject(object));
    sinks.set(object.id, sink);
    return { object, sink };
  };

  beforeEach(async () => {
    harness = await backend.createHarness();
    store = harness.createStore();
    await store.migrate();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-exporter-'));
    set = makeResourceSet();
    await store.transaction((tx) => tx.insertObject(set));
  });
  afterEach(async () => {
    await Promise.all(exporters.splice(0).map((each) => each.stop()));
    sinks.clear();
    await harness.dispose();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('exports its resource set from its own creation on, in id order, and saves the cursor', async () => {
    const before = event({ id: idAt(Date.now() - 60_000) });
    const other = makeResourceSet();
    await store.transaction((tx) => tx.insertObject(other));
    await append(before);
    const { object, sink } = await stream();
    const events = Array.from({ length: 7 }, () => event());
    await append(...events, makeAuditEvent({ resourceSetId: other.id }), makeAuditEvent({ resourceSetId: null }));
    const running = exporter();
    running.start();
    await waitFor(() => sink.ids().length === 7);
    expect(sink.ids()).toEqual(events.map((each) => each.id));
    expect(sink.batches.map((batch) => batch.length)).toEqual([3, 3, 1]);
    await waitFor(async () => (await store.getLogStreamCursor(object.id))?.lastEventId === events[6]!.id);
    await waitFor(() => running.status()[0]?.state === 'idle');
    expect(running.status()).toEqual([
      expect.objectContaining({ streamId: object.id, state: 'idle', leaseHeld: true, delivered: 7, lastDeliveredId: events[6]!.id }),
    ]);
  });

  it('exports the whole history with fromBeginning', async () => {
    const old = event({ id: idAt(Date.now() - 3_600_000) });
    await append(old);
    const { sink } = await stream({}, { fromBeginning: true });
    exporter().start();
    await waitFor(() => sink.ids().length === 1);
    expect(sink.ids()).toEqual([old.id]);
  });

  it('loses nothing while the sink is down: the cursor waits, then everything is delivered', async () => {
    const { object, sink } = await stream();
    sink.down = true;
    const running = exporter();
    running.start();
    const events = Array.from({ length: 5 }, () => event());
    await append(...events);
    await waitFor(() => running.status()[0]!.consecutiveFailures >= 2);
    expect(running.status()[0]).toMatchObject({ state: 'failing', lastError: 'sink is down', delivered: 0 });
    expect(await store.getLogStreamCursor(object.id)).toBeUndefined();
    sink.down = false;
    await waitFor(() => running.status()[0]!.delivered === 5);
    expect(sink.ids()).toEqual(events.map((each) => each.id));
    expect(running.status()[0]).toMatchObject({ consecutiveFailures: 0, lastError: 'sink is down' });
  });

  it('resumes from the cursor after a restart, and hands the lease over on stop', async () => {
    const { sink } = await stream();
    const first = exporter();
    first.start();
    const early = Array.from({ length: 4 }, () => event());
    await append(...early);
    await waitFor(() => sink.ids().length === 4);
    await first.stop();
    const late = Array.from({ length: 4 }, () => event());
    await append(...late);
    exporter().start(); // another holder: it gets the lease at once because stop() released it
    await waitFor(() => sink.ids().length === 8, 4000);
    expect(sink.ids()).toEqual([...early, ...late].map((each) => each.id));
  });

  it('lets one of two replicas export a stream; the other takes over when it stops', async () => {
    const { object, sink } = await stream();
    const replicaA = exporter();
    const replicaB = exporter({ store: harness.createStore() });
    replicaA.start();
    await waitFor(() => replicaA.status()[0]?.leaseHeld === true);
    replicaB.start();
    await waitFor(() => replicaB.status()[0]?.state === 'standby');
    const events = Array.from({ length: 6 }, () => event());
    await append(...events.slice(0, 3));
    await waitFor(() => sink.ids().length === 3);
    await replicaA.stop();
    await append(...events.slice(3));
    await waitFor(() => replicaB.status()[0]?.delivered === 3, 4000);
    expect(sink.ids()).toEqual(events.map((each) => each.id));
    expect(replicaB.status()[0]).toMatchObject({ streamId: object.id, leaseHeld: true, delivered: 3 });
  });

  it('holds back events younger than settleMs, so a late commit with a smaller id is not skipped', async () => {
    let offset = 0;
    const now = () => new Date(Date.now() + offset);
    const { sink } = await stream({ createdAt: new Date(Date.now() - 600_000).toISOString() });
    const young = event({ id: idAt(Date.now() - 1000) });
    const old = event({ id: idAt(Date.now() - 10_000) });
    await append(young, old);
    exporter({ settleMs: 5000, now }).start();
    await waitFor(() => sink.ids().length === 1);
    // Committed after `old` was exported, with an id below `young`'s: still ahead of the cursor.
    const late = event({ id: idAt(Date.now() - 8000) });
    await append(late);
    await waitFor(() => sink.ids().length === 2);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(sink.ids()).toEqual([old.id, late.id]);
    offset = 5000;
    await waitFor(() => sink.ids().length === 3);
    expect(sink.ids()).toEqual([old.id, late.id, young.id]);
  });

  it('cannot move the cursor once another holder has taken the lease', async () => {
    const { object, sink } = await stream();
    const running = exporter();
    running.start();
    await append(event());
    await waitFor(async () => (await store.getLogStreamCursor(object.id)) !== undefined);
    const cursor = await store.getLogStreamCursor(object.id);
    const far = new Date(Date.now() + 3_600_000).toISOString();
    await harness.rawQuery('UPDATE leases SET holder = ?, expires_at = ? WHERE name = ?', ['intruder', far, `logstream:${object.id}`]);
    await append(event(), event());
    await waitFor(() => running.status()[0]?.state === 'standby');
    expect(running.status()[0]!.leaseHeld).toBe(false);
    expect(await store.getLogStreamCursor(object.id)).toEqual(cursor);
    expect(sink.ids().length).toBeLessThanOrEqual(3); // at most one batch went out before the loss was noticed
  });

  it('wakes an idle stream on notify() rather than at its next poll', async () => {
    const { sink } = await stream({}, { flushIntervalMs: 60_000 });
    const running = exporter({ settleMs: 50, reloadIntervalMs: 60_000 });
    running.start();
    await waitFor(() => running.status()[0]?.state === 'idle');
    await append(event());
    running.notify();
    await waitFor(() => sink.ids().length === 1, 2000);
  });

  it('stops a disabled stream keeping its cursor, and forgets the cursor of a deleted one', async () => {
    const { object, sink } = await stream();
    const running = exporter();
    running.start();
    await append(event());
    await waitFor(async () => (await store.getLogStreamCursor(object.id)) !== undefined);
    const disabled = { ...object, enabled: false, updatedAt: new Date().toISOString() };
    await store.transaction((tx) => tx.updateObject(disabled));
    await running.reload();
    expect(running.status()).toEqual([]);
    await append(event());
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(sink.ids()).toHaveLength(1);
    expect(await store.getLogStreamCursor(object.id)).toBeDefined();
    await store.transaction((tx) => tx.deleteObject(object.id));
    await running.reload();
    expect(await store.getLogStreamCursor(object.id)).toBeUndefined();
  });

  it('reports streams it cannot export, without secrets', async () => {
    await stream({ name: 'with-credentials' }, { url: 'https://user:hunter2@siem.example.test/in' });
    const file = { type: 'file', config: { fileName: 'shared.jsonl' } };
    const first = await stream({ name: 'file-a', spec: file, secrets: null });
    await stream({ name: 'file-b', spec: file, secrets: null });
    sinks.clear(); // real sinks
    const running = exporter({ createSink: undefined });
    running.start();
    await running.reload();
    const byName = Object.fromEntries(running.status().map((each) => [each.name, each]));
    expect(byName['with-credentials']).toMatchObject({ state: 'invalid', lastError: expect.stringMatching(/credentials/) });
    expect(JSON.stringify(running.status())).not.toContain('hunter2');
    expect(byName['file-b']).toMatchObject({ state: 'invalid', lastError: `fileName is already used by log stream ${first.object.id}` });
    expect(byName['file-a']!.state).not.toBe('invalid');
  });

  it('writes a file stream through the real file sink', async () => {
    const { object } = await stream({ spec: { type: 'file', config: { fileName: 'export.jsonl' } }, secrets: null });
    sinks.delete(object.id);
    const events = Array.from({ length: 5 }, () => event());
    await append(...events);
    exporter({ createSink: undefined }).start();
    const file = path.join(dataDir, 'audit', set.id, 'export.jsonl');
    await waitFor(() => fs.existsSync(file) && fs.readFileSync(file, 'utf8').split('\n').length === 6);
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as AuditEvent);
    expect(lines).toEqual(events);
  });

  it('keeps the events of a webhook stream whose name rebinds to a refused address, and delivers them once it is back', async () => {
    const received: string[] = [];
    const receiver = http.createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        received.push(...(JSON.parse(body) as { events: AuditEvent[] }).events.map((each) => each.id));
        response.writeHead(200, { connection: 'close' }).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      let answer = '169.254.169.254';
      const guard = new DestinationGuard({ allow: ['127.0.0.1'], resolve: async () => [{ address: answer, family: 4 }] });
      const port = (receiver.address() as AddressInfo).port;
      const { object } = await stream({}, { url: `http://siem.localhost:${port}/in` });
      sinks.delete(object.id);
      const events = Array.from({ length: 4 }, () => event());
      await append(...events);
      const running = exporter({ createSink: undefined, guard });
      running.start();
      await waitFor(() => running.status()[0]?.consecutiveFailures === 2);
      expect(running.status()[0]).toMatchObject({ state: 'failing', delivered: 0, lastError: expect.stringMatching(/link-local address/) });
      expect(await store.getLogStreamCursor(object.id)).toBeUndefined();
      expect(received).toEqual([]);
      answer = '127.0.0.1';
      await waitFor(() => running.status()[0]!.delivered === 4, 10_000);
      expect(received).toEqual(events.map((each) => each.id));
    } finally {
      receiver.closeAllConnections();
      await new Promise((resolve) => receiver.close(resolve));
    }
  });

  describe('file streams of several resource sets', () => {
    const readEvents = (file: string): AuditEvent[] =>
      fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as AuditEvent) : [];
    /** Every event in a folder's files, oldest file first (`name.N.jsonl` … `name.1.jsonl`, then `name.jsonl`). */
    const folderEvents = (folder: string, base: string): AuditEvent[] => {
      const rotated = (fs.existsSync(folder) ? fs.readdirSync(folder) : [])
        .map((name) => new RegExp(`^${base.replaceAll('.', '\\.')}\\.(\\d+)\\.jsonl$`).exec(name))
        .filter((match) => match !== null)
        .map((match) => Number(match[1]))
        .sort((a, b) => b - a);
      return [...rotated.map((n) => path.join(folder, `${base}.${n}.jsonl`)), path.join(folder, `${base}.jsonl`)].flatMap(readEvents);
    };
    const fileStream = (resourceSetId: string, config: Record<string, unknown>) =>
      stream({ resourceSetId, spec: { type: 'file', config }, secrets: null });

    it("keeps each set's files in its own folder: a stream named like another set's rotated file touches none of its events", async () => {
      const other = makeResourceSet();
      await store.transaction((tx) => tx.insertObject(other));
      const victim = await fileStream(set.id, { fileName: 'audit.jsonl', maxBytes: 1024, maxFiles: 100 });
      const attacker = await fileStream(other.id, { fileName: 'audit.1.jsonl', maxFiles: 100 });
      sinks.delete(victim.object.id);
      sinks.delete(attacker.object.id);
      const mine = Array.from({ length: 30 }, (_, index) => event({ data: { index, padding: 'x'.repeat(100) } }));
      const theirs = Array.from({ length: 30 }, (_, index) => makeAuditEvent({ resourceSetId: other.id, data: { index } }));
      await append(...mine.flatMap((each, index) => [each, theirs[index]!]));
      const running = exporter({ createSink: undefined });
      running.start();
      await waitFor(() => running.status().filter((each) => each.delivered === 30).length === 2, 15_000);
      expect(folderEvents(path.join(dataDir, 'audit', set.id), 'audit')).toEqual(mine);
      expect(folderEvents(path.join(dataDir, 'audit', other.id), 'audit.1')).toEqual(theirs);
      expect(fs.readdirSync(path.join(dataDir, 'audit')).sort()).toEqual([set.id, other.id].sort());
    });

    it('lets two sets use the same file name, and keeps one set from using a name twice (rotated names included)', async () => {
      const other = makeResourceSet();
      await store.transaction((tx) => tx.insertObject(other));
      const first = await fileStream(set.id, { fileName: 'shared.jsonl' });
      const second = await fileStream(other.id, { fileName: 'shared.jsonl' });
      // Stored before names of rotated files were refused on writes: the older stream keeps the name.
      const clash = await fileStream(set.id, { fileName: 'shared.2.jsonl' });
      for (const each of [first, second, clash]) sinks.delete(each.object.id);
      await append(event(), makeAuditEvent({ resourceSetId: other.id }));
      const running = exporter({ createSink: undefined });
      running.start();
      await waitFor(() => running.status().filter((each) => each.delivered === 1).length === 2);
      const byId = new Map(running.status().map((each) => [each.streamId, each]));
      expect(byId.get(first.object.id)!.state).not.toBe('invalid');
      expect(byId.get(second.object.id)!.state).not.toBe('invalid');
      expect(byId.get(clash.object.id)).toMatchObject({ state: 'invalid', lastError: `fileName is already used by log stream ${first.object.id}` });
      expect(readEvents(path.join(dataDir, 'audit', set.id, 'shared.jsonl'))).toHaveLength(1);
      expect(readEvents(path.join(dataDir, 'audit', other.id, 'shared.jsonl'))).toHaveLength(1);
    });

    it("moves a stream's files from the shared folder of earlier versions into its set's folder, and appends there", async () => {
      const legacy = path.join(dataDir, 'audit');
      fs.mkdirSync(legacy, { recursive: true });
      const older = event({ id: idAt(Date.now() - 120_000) });
      const old = event({ id: idAt(Date.now() - 60_000) });
      fs.writeFileSync(path.join(legacy, 'export.1.jsonl'), `${JSON.stringify(older)}\n`);
      fs.writeFileSync(path.join(legacy, 'export.jsonl'), `${JSON.stringify(old)}\n`);
      fs.writeFileSync(path.join(legacy, 'unrelated.jsonl'), 'kept as it is\n');
      const other = makeResourceSet();
      await store.transaction((tx) => tx.insertObject(other));
      // The stream that wrote the file (the oldest of that name) takes it; a newer one of another set starts afresh.
      const owner = await fileStream(set.id, { fileName: 'export.jsonl' });
      const newcomer = await fileStream(other.id, { fileName: 'export.jsonl' });
      sinks.delete(owner.object.id);
      sinks.delete(newcomer.object.id);
      const fresh = event();
      await append(fresh, makeAuditEvent({ resourceSetId: other.id }));
      const running = exporter({ createSink: undefined });
      running.start();
      await waitFor(() => running.status().filter((each) => each.delivered === 1).length === 2);
      expect(folderEvents(path.join(legacy, set.id), 'export')).toEqual([older, old, fresh]);
      expect(folderEvents(path.join(legacy, other.id), 'export')).toHaveLength(1);
      expect(fs.readdirSync(legacy).sort()).toEqual([set.id, other.id, 'unrelated.jsonl'].sort());
    });
  });
});
