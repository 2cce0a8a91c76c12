import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { StatementSync } from 'node:sqlite';
import { connectionError, mapSqliteError } from './errors.js';
import { scopedExecutor } from './executor.js';
import type { SqlExecutor, SqlRow, SqlValue } from './executor.js';
import { applyMigrations } from './migrations.js';
import { AsyncMutex } from './mutex.js';
import { ReaderFacade, SqlOperations } from './operations.js';
import { SQL } from './sql.js';
import type { ObjectsChangeListener, Store, StoreReader, StoreWriter } from './types.js';

const BUSY_TIMEOUT_MS = 5000;
// List queries vary in their number of placeholders; keep the cache from growing without bound.
const STATEMENT_CACHE_SIZE = 256;

/** One node:sqlite connection with a prepared-statement cache, as a SqlExecutor. */
class SqliteConnection implements SqlExecutor {
  private readonly statements = new Map<string, StatementSync>();

  constructor(private readonly database: DatabaseSync) {}

  async query(sql: string, params: readonly SqlValue[] = []): Promise<SqlRow[]> {
    try {
      return this.prepare(sql).all(...params);
    } catch (error) {
      throw mapSqliteError(error);
    }
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    try {
      return Number(this.prepare(sql).run(...params).changes);
    } catch (error) {
      throw mapSqliteError(error);
    }
  }

  async exec(sql: string): Promise<void> {
    try {
      this.database.exec(sql);
    } catch (error) {
      throw mapSqliteError(error);
    }
  }

  close(): void {
    this.statements.clear();
    this.database.close();
  }

  private prepare(sql: string): StatementSync {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.database.prepare(sql);
      if (this.statements.size >= STATEMENT_CACHE_SIZE) {
        const oldest = this.statements.keys().next().value;
        if (oldest !== undefined) this.statements.delete(oldest);
      }
      this.statements.set(sql, statement);
    }
    return statement;
  }
}

/**
 * One mutex per database file, shared by every SqliteStore of this process on that file: two
 * instances each holding their own would block the event loop in busy_timeout waiting for each
 * other (the lock holder cannot run while the waiter spins synchronously).
 */
const fileMutexes = new Map<string, AsyncMutex>();

function mutexFor(filePath: string): AsyncMutex {
  const key = fs.realpathSync(filePath);
  let mutex = fileMutexes.get(key);
  if (mutex === undefined) {
    mutex = new AsyncMutex();
    fileMutexes.set(key, mutex);
  }
  return mutex;
}

/** The file holds encrypted secrets and key hashes: owner-only from the first byte. */
function createPrivateFile(filePath: string): void {
  fs.mkdirSync(path.dirname(filePath), { recursive: true, mode: 0o700 });
  fs.closeSync(fs.openSync(filePath, 'a', 0o600)); // the mode applies only when the file is created
}

function openWriter(filePath: string): DatabaseSync {
  const database = new DatabaseSync(filePath, { enableForeignKeyConstraints: true, timeout: BUSY_TIMEOUT_MS });
  database.exec(`PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=${BUSY_TIMEOUT_MS};`);
  // In WAL mode NORMAL survives application crashes; only power loss may undo the latest commits.
  database.exec('PRAGMA synchronous=NORMAL;');
  return database;
}

/**
 * The embedded backend. node:sqlite is synchronous, but the transaction callback is async and other
 * requests run while it awaits, so transactions take turns through a FIFO mutex on the one write
 * connection, and reads outside a transaction use a second, read-only connection that sees only
 * committed data (WAL lets it read while a write transaction is open). An in-memory database has
 * a single connection: its reads wait for the mutex instead.
 */
export class SqliteStore extends ReaderFacade implements Store {
  readonly dialect = 'sqlite' as const;
  private readonly writer: SqliteConnection;
  private readonly reader: SqliteConnection | undefined;
  private readonly readOperations: StoreReader;
  private readonly mutex: AsyncMutex;
  // Marks the async context of a transaction callback, to refuse calls that would deadlock.
  private readonly transactionContext = new AsyncLocalStorage<true>();
  private closed = false;

  /** `filePath` is a database file (created with mode 0600, parents included) or `':memory:'`. */
  constructor(filePath: string) {
    super();
    const inMemory = filePath === ':memory:';
    let writer: SqliteConnection | undefined;
    try {
      if (!inMemory) createPrivateFile(filePath);
      this.mutex = inMemory ? new AsyncMutex() : mutexFor(filePath);
      writer = new SqliteConnection(openWriter(filePath));
      // Opened after the writer has switched the file to WAL mode.
      this.reader = inMemory
        ? undefined
        : new SqliteConnection(new DatabaseSync(filePath, { readOnly: true, timeout: BUSY_TIMEOUT_MS }));
    } catch (error) {
      writer?.close();
      throw connectionError(mapSqliteError(error), 'SQLite');
    }
    this.writer = writer;
    this.readOperations = new SqlOperations(this.reader ?? this.writer);
  }

  async migrate(): Promise<void> {
    this.assertOutsideTransaction('migrate');
    await this.writeTransaction((db) => applyMigrations(db));
  }

  async transaction<T>(fn: (tx: StoreWriter) => Promise<T>): Promise<T> {
    this.assertOutsideTransaction('start a nested transaction');
    return this.writeTransaction((db) => this.transactionContext.run(true, () => fn(new SqlOperations(db))));
  }

  /**
   * Nothing is ever announced: SQLite serves a single process, whose writes go through its own
   * write path, which already applies them to what it caches.
   */
  onObjectsChanged(_listener: ObjectsChangeListener): () => void {
    return () => undefined;
  }

  async ping(): Promise<void> {
    await (this.reader ?? this.writer).query(SQL.ping);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Let queued transactions finish first.
    await this.mutex.run(async () => {
      this.reader?.close();
      this.writer.close();
    });
  }

  protected read<T>(operation: (reader: StoreReader) => Promise<T>): Promise<T> {
    if (this.reader !== undefined) return operation(this.readOperations);
    this.assertOutsideTransaction('read through the store (use the tx handle)');
    return this.mutex.run(() => operation(this.readOperations));
  }

  private writeTransaction<T>(body: (db: SqlExecutor) => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      // IMMEDIATE takes the write lock now (waiting up to busy_timeout for another process),
      // rather than failing halfway through when a read turns into a write.
      await this.writer.exec('BEGIN IMMEDIATE');
      const scope = scopedExecutor(this.writer);
      try {
        const result = await body(scope.executor);
        scope.end();
        await this.writer.exec('COMMIT');
        return result;
      } catch (error) {
        scope.end();
        // Fails harmlessly when SQLite has already rolled back by itself.
        await this.writer.exec('ROLLBACK').catch(() => undefined);
        throw error;
      }
    });
  }

  private assertOutsideTransaction(action: string): void {
    if (this.transactionContext.getStore() === true) {
      throw new Error(`SqliteStore: cannot ${action} inside a transaction callback; it would deadlock`);
    }
  }
}
