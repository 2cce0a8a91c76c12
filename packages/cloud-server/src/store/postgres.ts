import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { ClientBase, PoolClient } from 'pg';
import { connectionError, mapPostgresError } from './errors.js';
import { scopedExecutor, toPostgresPlaceholders } from './executor.js';
import type { SqlExecutor, SqlRow, SqlValue } from './executor.js';
import { applyMigrations } from './migrations.js';
import { ChangeListener, ChangeTrackingOperations, OBJECTS_CHANNEL, changePayloads } from './notify.js';
import { ReaderFacade, SqlOperations } from './operations.js';
import { SQL } from './sql.js';
import type { ObjectsChangeListener, Store, StoreReader, StoreWriter } from './types.js';

export interface PostgresStoreOptions {
  connectionString: string;
  /** Schema holding Tessera's tables (created by migrate); default: the server's search_path. */
  schema?: string;
  /** Maximum pooled connections (default 10). */
  poolSize?: number;
  /** How long to wait for a connection before failing with `unavailable` (default 10 s). */
  connectionTimeoutMillis?: number;
  /** Errors of idle pooled connections (a restarted server, say); the pool replaces them. */
  onIdleError?: (error: Error) => void;
  /** Losses of the LISTEN connection (it reconnects) and errors thrown by change listeners. */
  onListenError?: (error: Error) => void;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const PLACEHOLDER_CACHE_SIZE = 256;
const translatedSql = new Map<string, string>();

/** Our SQL is written with `?`; translate each text once. */
function postgresSql(sql: string): string {
  let translated = translatedSql.get(sql);
  if (translated === undefined) {
    translated = toPostgresPlaceholders(sql);
    if (translatedSql.size >= PLACEHOLDER_CACHE_SIZE) translatedSql.clear();
    translatedSql.set(sql, translated);
  }
  return translated;
}

export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

async function useSchema(client: ClientBase, schema: string): Promise<void> {
  await client.query(`SET search_path TO ${quoteIdentifier(schema)}`);
}

/** A pool (each query on any free connection) or one checked-out client, as a SqlExecutor. */
class PostgresExecutor implements SqlExecutor {
  constructor(private readonly client: pg.Pool | PoolClient) {}

  async query(sql: string, params: readonly SqlValue[] = []): Promise<SqlRow[]> {
    try {
      return (await this.client.query<SqlRow>(postgresSql(sql), [...params])).rows;
    } catch (error) {
      throw mapPostgresError(error);
    }
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    try {
      return (await this.client.query(postgresSql(sql), [...params])).rowCount ?? 0;
    } catch (error) {
      throw mapPostgresError(error);
    }
  }

  async exec(sql: string): Promise<void> {
    try {
      await this.client.query(sql);
    } catch (error) {
      throw mapPostgresError(error);
    }
  }
}

/** The server backend: a pg.Pool; reads go to any pooled connection, a transaction holds one. */
export class PostgresStore extends ReaderFacade implements Store {
  readonly dialect = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly schema: string | undefined;
  private readonly readOperations: StoreReader;
  private readonly transactionContext = new AsyncLocalStorage<true>();
  /** Tags this instance's notifications, so it skips its own. */
  private readonly origin = randomUUID();
  private readonly changes: ChangeListener;
  private closed = false;

  constructor(options: PostgresStoreOptions) {
    super();
    const { schema } = options;
    if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
      throw new TypeError(`invalid PostgreSQL schema name: it must match ${SCHEMA_NAME.source}`);
    }
    this.schema = schema;
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: options.connectionTimeoutMillis ?? 10_000,
      // Awaited by the pool before it hands the connection out; if it fails, so does the connect.
      ...(schema === undefined ? {} : { onConnect: (client: ClientBase) => useSchema(client, schema) }),
    });
    // Without a listener, an idle connection's error (server restart) would crash the process.
    this.pool.on('error', (error) => options.onIdleError?.(error));
    this.readOperations = new SqlOperations(new PostgresExecutor(this.pool));
    this.changes = new ChangeListener({
      connectionString: options.connectionString,
      connectionTimeoutMillis: options.connectionTimeoutMillis ?? 10_000,
      origin: this.origin,
      schema: schema ?? '',
      ...(options.onListenError ? { onError: options.onListenError } : {}),
    });
  }

  async migrate(): Promise<void> {
    await this.writeTransaction(async (db) => {
      // Replicas starting together queue on this lock; COMMIT or ROLLBACK releases it.
      await db.query('SELECT pg_advisory_xact_lock(hashtext(?)) AS locked', [`tessera.migrate:${this.schema ?? ''}`]);
      if (this.schema !== undefined) await db.exec(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(this.schema)}`);
      await applyMigrations(db);
    });
  }

  async transaction<T>(fn: (tx: StoreWriter) => Promise<T>): Promise<T> {
    // A nested transaction would hold a second pooled connection: a deadlock once the pool is full.
    if (this.transactionContext.getStore() === true) {
      throw new Error('PostgresStore: nested transactions are not supported; use the tx handle');
    }
    return this.writeTransaction(async (db) => {
      const tx = new ChangeTrackingOperations(db);
      const result = await this.transactionContext.run(true, () => fn(tx));
      // Queued inside the transaction: PostgreSQL delivers them on COMMIT, drops them on ROLLBACK.
      for (const payload of changePayloads(this.origin, this.schema ?? '', tx.changedIds)) {
        await db.query('SELECT pg_notify(?, ?) AS notified', [OBJECTS_CHANNEL, payload]);
      }
      return result;
    });
  }

  onObjectsChanged(listener: ObjectsChangeListener): () => void {
    if (this.closed) return () => undefined;
    return this.changes.subscribe(listener);
  }

  async ping(): Promise<void> {
    await new PostgresExecutor(this.pool).query(SQL.ping);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.changes.close();
    await this.pool.end();
  }

  protected read<T>(operation: (reader: StoreReader) => Promise<T>): Promise<T> {
    return operation(this.readOperations);
  }

  private async writeTransaction<T>(body: (db: SqlExecutor) => Promise<T>): Promise<T> {
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw connectionError(error, 'PostgreSQL');
    }
    const connection = new PostgresExecutor(client);
    const scope = scopedExecutor(connection);
    let brokenConnection: Error | undefined;
    // A checked-out client that loses its connection between queries emits 'error'; unheard, that
    // would crash the process. Remember it instead: the next query fails, and the client is discarded.
    const onConnectionError = (error: Error): void => void (brokenConnection = error);
    client.on('error', onConnectionError);
    try {
      await connection.exec('BEGIN');
      const result = await body(scope.executor);
      scope.end();
      await connection.exec('COMMIT');
      return result;
    } catch (error) {
      scope.end();
      await connection.exec('ROLLBACK').catch((rollbackError: unknown) => {
        // A connection that cannot roll back must not return to the pool.
        brokenConnection = rollbackError instanceof Error ? rollbackError : new Error('ROLLBACK failed');
      });
      throw error;
    } finally {
      client.off('error', onConnectionError);
      client.release(brokenConnection);
    }
  }
}
