import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from './index.js';
import { SqliteStore } from './sqlite.js';
import { makeObject, makeResourceSet } from '../../test/support/store-backends.js';
import { StoreError } from './types.js';
import type { Store } from './types.js';

/** What only the embedded backend has: a file on disk, an in-memory mode, and openStore's routing. */

let directory: string;
const opened: Store[] = [];

beforeEach(() => {
  directory = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-sqlite-'));
});
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
  fs.rmSync(directory, { recursive: true, force: true });
});

async function open(options: Parameters<typeof openStore>[0]): Promise<Store> {
  const store = await openStore(options);
  opened.push(store);
  return store;
}

describe('SqliteStore on a file', () => {
  it('creates <dataDir>/tessera.db, parents included, readable by the owner only, in WAL mode', async () => {
    const dataDir = path.join(directory, 'deep', 'data');
    const store = await open({ dataDir });
    expect(store.dialect).toBe('sqlite');
    const file = path.join(dataDir, 'tessera.db');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const raw = new DatabaseSync(file, { readOnly: true });
    try {
      expect(raw.prepare('PRAGMA journal_mode').get()?.journal_mode).toBe('wal');
    } finally {
      raw.close();
    }
  });

  it('keeps data across close and reopen', async () => {
    const set = makeResourceSet();
    const first = await openStore({ dataDir: directory });
    await first.transaction((tx) => tx.insertObject(set));
    await first.close();
    const second = await open({ dataDir: directory });
    expect(await second.getObject(set.id)).toEqual(set);
  });

  it('survives more distinct list queries than its statement cache holds', async () => {
    const store = await open({ dataDir: directory });
    const set = makeResourceSet();
    await store.transaction((tx) => tx.insertObject(set));
    for (let count = 1; count <= 300; count += 1) {
      const ids = [set.id, ...Array.from({ length: count - 1 }, (_, index) => `other-${index}`)];
      expect(await store.listObjects({ kind: 'resource-set', resourceSetIds: ids, limit: 1 })).toEqual([]);
    }
  });

  it('reports an unusable path as unavailable', () => {
    const blocker = path.join(directory, 'a-file');
    fs.writeFileSync(blocker, '');
    expect(() => new SqliteStore(path.join(blocker, 'tessera.db'))).toThrow(StoreError);
    try {
      new SqliteStore(path.join(blocker, 'tessera.db'));
    } catch (error) {
      expect((error as StoreError).code).toBe('unavailable');
    }
  });
});

describe('SqliteStore in memory', () => {
  it('round-trips, rolls back, and makes reads wait for the running transaction', async () => {
    const store = new SqliteStore(':memory:');
    opened.push(store);
    await store.migrate();
    const set = makeResourceSet();
    await expect(
      store.transaction(async (tx) => {
        await tx.insertObject(set);
        throw new Error('undo');
      }),
    ).rejects.toThrow('undo');
    expect(await store.getObject(set.id)).toBeUndefined();

    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const running = store.transaction(async (tx) => {
      await tx.insertObject(set);
      await released;
    });
    let readDone = false;
    const read = store.getObject(set.id).finally(() => (readDone = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(readDone).toBe(false); // queued behind the transaction: no uncommitted reads
    release();
    await running;
    expect(await read).toEqual(set);
  });

  it('refuses a read through the store inside its own transaction instead of deadlocking', async () => {
    const store = new SqliteStore(':memory:');
    opened.push(store);
    await store.migrate();
    await expect(store.transaction(() => store.getObject(makeObject().id))).rejects.toThrow(/deadlock/);
  });
});

describe('openStore', () => {
  it('rejects other URL schemes without echoing the URL', async () => {
    const attempt = openStore({ databaseUrl: 'mysql://admin:hunter2@db/tessera', dataDir: directory });
    await expect(attempt).rejects.toThrow(/unsupported database URL scheme "mysql"/);
    await expect(attempt).rejects.not.toThrow(/hunter2/);
  });

  it('needs a database URL or a data directory', async () => {
    await expect(openStore({})).rejects.toThrow(/databaseUrl .* or dataDir/);
  });
});
