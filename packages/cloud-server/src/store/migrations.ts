import type { SqlExecutor } from './executor.js';
import { StoreError } from './types.js';

/**
 * The one ordered list of schema migrations, in SQL that runs unchanged on SQLite and PostgreSQL:
 * TEXT for ids, JSON and ISO-8601 timestamps, INTEGER 0/1 for booleans. Never edit a released
 * migration; append a new one.
 */
export interface Migration {
  version: number;
  name: string;
  statements: string[];
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial_schema',
    statements: [
      `CREATE TABLE objects (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        resource_set_id TEXT REFERENCES objects(id),
        name TEXT NOT NULL,
        description TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        spec TEXT NOT NULL,
        secrets TEXT,
        lookup_key TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      )`,
      // COALESCE makes global kinds (no resource set) unique by name too: NULLs never collide.
      `CREATE UNIQUE INDEX objects_kind_set_name ON objects (kind, COALESCE(resource_set_id, ''), name)`,
      `CREATE UNIQUE INDEX objects_lookup_key ON objects (lookup_key)`,
      `CREATE INDEX objects_kind_set_id ON objects (kind, resource_set_id, id)`,
      // Serves the foreign-key check when a resource set is deleted, and listReferrers.
      `CREATE INDEX objects_resource_set_id ON objects (resource_set_id)`,
      `CREATE TABLE object_refs (
        from_id TEXT NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
        to_id TEXT NOT NULL REFERENCES objects(id),
        PRIMARY KEY (from_id, to_id)
      )`,
      `CREATE INDEX object_refs_to_id ON object_refs (to_id)`,
      // No foreign keys: audit events outlive the objects they mention.
      `CREATE TABLE audit_events (
        id TEXT PRIMARY KEY,
        time TEXT NOT NULL,
        kind TEXT NOT NULL,
        outcome TEXT NOT NULL,
        reason TEXT,
        resource_set_id TEXT,
        actor TEXT,
        client_workload_id TEXT,
        server_workload_id TEXT,
        object_id TEXT,
        data TEXT NOT NULL
      )`,
      `CREATE INDEX audit_events_time ON audit_events (time)`,
      `CREATE INDEX audit_events_kind ON audit_events (kind, id)`,
      `CREATE INDEX audit_events_resource_set ON audit_events (resource_set_id, id)`,
      `CREATE INDEX audit_events_client_workload ON audit_events (client_workload_id, id)`,
      `CREATE INDEX audit_events_server_workload ON audit_events (server_workload_id, id)`,
      `CREATE INDEX audit_events_object ON audit_events (object_id, id)`,
      `CREATE TABLE signing_keys (
        kid TEXT PRIMARY KEY,
        alg TEXT NOT NULL,
        public_jwk TEXT NOT NULL,
        private_key TEXT NOT NULL,
        created_at TEXT NOT NULL,
        retired_at TEXT,
        publish_until TEXT
      )`,
      `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
    ],
  },
  {
    version: 2,
    name: 'audit_export',
    statements: [
      // Time-limited ownership (one audit exporter per log stream across replicas).
      `CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at TEXT NOT NULL)`,
      // No foreign key to objects: the exporter deletes the cursor once its stream is gone.
      `CREATE TABLE log_stream_cursors (
        stream_id TEXT PRIMARY KEY,
        last_event_id TEXT NOT NULL,
        updated_at TEXT NOT NULL
      )`,
    ],
  },
  {
    version: 3,
    name: 'request_metrics',
    statements: [
      // What the SDKs report about managed requests, added up per minute. '' stands for "none" in
      // the key columns (no server workload matched, no answer, no reason): NULLs would never
      // collide, and the upsert needs them to. No foreign keys: metrics outlive the objects.
      // The latency columns are the histogram of src/metrics/latency-buckets.ts.
      `CREATE TABLE request_metrics (
        minute TEXT NOT NULL,
        resource_set_id TEXT NOT NULL,
        client_workload_id TEXT NOT NULL,
        server_workload_id TEXT NOT NULL,
        target TEXT NOT NULL,
        outcome TEXT NOT NULL,
        status_class TEXT NOT NULL,
        reason TEXT NOT NULL,
        requests BIGINT NOT NULL,
        latency_ms_sum DOUBLE PRECISION NOT NULL,
        latency_le_1ms BIGINT NOT NULL,
        latency_le_2_5ms BIGINT NOT NULL,
        latency_le_5ms BIGINT NOT NULL,
        latency_le_10ms BIGINT NOT NULL,
        latency_le_25ms BIGINT NOT NULL,
        latency_le_50ms BIGINT NOT NULL,
        latency_le_100ms BIGINT NOT NULL,
        latency_le_250ms BIGINT NOT NULL,
        latency_le_500ms BIGINT NOT NULL,
        latency_le_1s BIGINT NOT NULL,
        latency_le_2_5s BIGINT NOT NULL,
        latency_le_5s BIGINT NOT NULL,
        latency_le_10s BIGINT NOT NULL,
        latency_gt_10s BIGINT NOT NULL,
        PRIMARY KEY (minute, resource_set_id, client_workload_id, server_workload_id, target, outcome, status_class, reason)
      )`,
      `CREATE INDEX request_metrics_client_workload ON request_metrics (client_workload_id, minute)`,
      `CREATE INDEX request_metrics_server_workload ON request_metrics (server_workload_id, minute)`,
      // Reports already counted, so that a retried report is not counted twice.
      `CREATE TABLE request_metric_reports (
        resource_set_id TEXT NOT NULL,
        report_id TEXT NOT NULL,
        client_workload_id TEXT NOT NULL,
        received_at TEXT NOT NULL,
        PRIMARY KEY (resource_set_id, report_id)
      )`,
      `CREATE INDEX request_metric_reports_received_at ON request_metric_reports (received_at)`,
    ],
  },
  {
    version: 4,
    name: 'admin_key_names_per_scope',
    statements: [
      // An admin key's name is unique among the keys of the same resource sets (objects/admin-keys.ts),
      // so that a clash never tells a scoped admin about a key outside its scope.
      `DROP INDEX objects_kind_set_name`,
      `CREATE UNIQUE INDEX objects_kind_set_name ON objects (kind, COALESCE(resource_set_id, ''), name) WHERE kind <> 'admin-key'`,
    ],
  },
];

export const LATEST_SCHEMA_VERSION = Math.max(...MIGRATIONS.map((migration) => migration.version));

/** Created before anything else: it records which migrations have run. */
const CREATE_SCHEMA_MIGRATIONS = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at TEXT NOT NULL
)`;

/**
 * Applies the pending migrations. The caller runs this inside one transaction and holds whatever
 * lock keeps other replicas out, so a failure leaves the schema exactly as it was.
 */
export async function applyMigrations(db: SqlExecutor): Promise<void> {
  await db.exec(CREATE_SCHEMA_MIGRATIONS);
  const rows = await db.query('SELECT version FROM schema_migrations ORDER BY version');
  const applied = new Set(rows.map((row) => Number(row.version)));
  const newest = Math.max(0, ...applied);
  if (newest > LATEST_SCHEMA_VERSION) {
    throw new StoreError(
      'migration_failed',
      `database schema is at version ${newest} but this Tessera version knows only up to ` +
        `${LATEST_SCHEMA_VERSION}: it was migrated by a newer release, and downgrade is not supported`,
    );
  }
  for (const migration of MIGRATIONS) {
    if (applied.has(migration.version)) continue;
    try {
      for (const statement of migration.statements) await db.exec(statement);
      await db.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [
        migration.version,
        migration.name,
        new Date().toISOString(),
      ]);
    } catch (error) {
      if (error instanceof StoreError && error.code === 'unavailable') throw error;
      throw new StoreError('migration_failed', `migration ${migration.version} (${migration.name}) failed`, {
        cause: error,
      });
    }
  }
}
