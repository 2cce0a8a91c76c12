import pg from 'pg';
import { SqlOperations } from './operations.js';
import type { ObjectsChange, ObjectsChangeListener, StoredObject } from './types.js';

/**
 * Cross-replica change notification for PostgreSQL: each write transaction announces the ids of
 * the objects it changed with NOTIFY (delivered only on COMMIT), and one dedicated connection per
 * store LISTENs and hands them to subscribers, so replicas can drop what they cache.
 */

export const OBJECTS_CHANNEL = 'tessera_objects';
/** PostgreSQL refuses payloads of 8000 bytes or more; stay well below. */
const MAX_PAYLOAD_BYTES = 7500;
/** Past this many ids, one "reload everything" is cheaper than many targeted reloads. */
export const MAX_NOTIFIED_IDS = 500;
const RECONNECT_BASE_MS = 250;
const RECONNECT_MAX_MS = 10_000;

/** A transaction's operations that remember which objects they inserted, updated or deleted. */
export class ChangeTrackingOperations extends SqlOperations {
  readonly changedIds = new Set<string>();

  override async insertObject(object: StoredObject): Promise<void> {
    await super.insertObject(object);
    this.changedIds.add(object.id);
  }

  override async updateObject(object: StoredObject): Promise<void> {
    await super.updateObject(object);
    this.changedIds.add(object.id);
  }

  override async deleteObject(id: string): Promise<boolean> {
    const deleted = await super.deleteObject(id);
    if (deleted) this.changedIds.add(id);
    return deleted;
  }
}

/**
 * The NOTIFY payloads announcing `ids`: JSON `{origin, schema, ids}` chunks under the size limit,
 * or a single `{origin, schema, all: true}` for big batches. `schema` is there because
 * notifications are per database, and several schemas (deployments, tests) may share one.
 */
export function changePayloads(origin: string, schema: string, ids: ReadonlySet<string>): string[] {
  if (ids.size === 0) return [];
  if (ids.size > MAX_NOTIFIED_IDS) return [JSON.stringify({ origin, schema, all: true })];
  const baseBytes = Buffer.byteLength(JSON.stringify({ origin, schema, ids: [] }));
  const payloads: string[] = [];
  let chunk: string[] = [];
  let bytes = baseBytes;
  for (const id of ids) {
    const idBytes = Buffer.byteLength(JSON.stringify(id)) + 1; // the comma
    if (chunk.length > 0 && bytes + idBytes > MAX_PAYLOAD_BYTES) {
      payloads.push(JSON.stringify({ origin, schema, ids: chunk }));
      chunk = [];
      bytes = baseBytes;
    }
    chunk.push(id);
    bytes += idBytes;
  }
  payloads.push(JSON.stringify({ origin, schema, ids: chunk }));
  return payloads;
}

export interface ChangeListenerOptions {
  connectionString: string;
  connectionTimeoutMillis: number;
  /** This store's id: its own notifications are ignored (its local writes are applied already). */
  origin: string;
  schema: string;
  /** Connection losses and throwing subscribers; the listener carries on. */
  onError?: (error: Error) => void;
}

/**
 * One LISTEN connection, open while there are subscribers. When it drops it reconnects with
 * backoff. Every time LISTEN takes effect (first connect included) subscribers get `{all: true}`,
 * and so does each subscriber joining a connection already listening: whatever was committed
 * before they were heard is unknown to them.
 */
export class ChangeListener {
  readonly #options: ChangeListenerOptions;
  readonly #subscribers = new Set<{ listener: ObjectsChangeListener }>();
  #client: pg.Client | undefined;
  #timer: NodeJS.Timeout | undefined;
  #attempt = 0;
  /** Bumped on every connect and stop, so callbacks of an abandoned client do nothing. */
  #generation = 0;
  #running = false;
  /** LISTEN is in effect on the current connection. */
  #listening = false;

  constructor(options: ChangeListenerOptions) {
    this.#options = options;
  }

  subscribe(listener: ObjectsChangeListener): () => void {
    const entry = { listener }; // the same function may subscribe twice
    this.#subscribers.add(entry);
    if (!this.#running) {
      this.#running = true;
      this.#connect();
    } else if (this.#listening) {
      // Already listening: this subscriber still gets its `{all: true}`, as if it had connected.
      queueMicrotask(() => {
        if (this.#subscribers.has(entry)) this.#call(entry.listener, { all: true });
      });
    }
    return () => {
      if (this.#subscribers.delete(entry) && this.#subscribers.size === 0) void this.#stop();
    };
  }

  async close(): Promise<void> {
    this.#subscribers.clear();
    await this.#stop();
  }

  #connect(): void {
    const generation = ++this.#generation;
    const client = new pg.Client({
      connectionString: this.#options.connectionString,
      connectionTimeoutMillis: this.#options.connectionTimeoutMillis,
    });
    this.#client = client;
    let failed = false;
    const fail = (error?: unknown): void => {
      if (failed) return;
      failed = true;
      if (generation === this.#generation) this.#listening = false;
      void client.end().catch(() => undefined);
      if (generation !== this.#generation || !this.#running) return; // stopped on purpose
      this.#client = undefined;
      this.#options.onError?.(error instanceof Error ? error : new Error('LISTEN connection ended'));
      const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** this.#attempt);
      this.#attempt += 1;
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        if (this.#running && generation === this.#generation) this.#connect();
      }, delay);
      this.#timer.unref();
    };
    client.on('error', fail);
    client.on('end', () => fail());
    client.on('notification', (message) => {
      if (generation === this.#generation && message.channel === OBJECTS_CHANNEL && message.payload) {
        this.#deliver(message.payload);
      }
    });
    client
      .connect()
      .then(() => client.query(`LISTEN ${OBJECTS_CHANNEL}`))
      .then(() => {
        if (failed || generation !== this.#generation) return;
        this.#attempt = 0;
        this.#listening = true;
        this.#emit({ all: true });
      }, fail);
  }

  async #stop(): Promise<void> {
    this.#running = false;
    this.#listening = false;
    this.#generation += 1;
    this.#attempt = 0;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  #deliver(payload: string): void {
    let message: unknown;
    try {
      message = JSON.parse(payload);
    } catch {
      return; // not ours
    }
    if (typeof message !== 'object' || message === null) return;
    const { origin, schema, all, ids } = message as Record<string, unknown>;
    if (origin === this.#options.origin || schema !== this.#options.schema) return;
    if (all === true) this.#emit({ all: true });
    else if (Array.isArray(ids) && ids.every((id) => typeof id === 'string')) this.#emit({ ids });
  }

  #emit(change: ObjectsChange): void {
    for (const { listener } of [...this.#subscribers]) this.#call(listener, change);
  }

  #call(listener: ObjectsChangeListener, change: ObjectsChange): void {
    try {
      listener(change);
    } catch (error) {
      this.#options.onError?.(error instanceof Error ? error : new Error(String(error)));
    }
  }
}
