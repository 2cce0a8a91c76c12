import type { SqlValue } from './executor.js';
import type { AuditAfterOptions, ListAuditQuery, ListObjectsQuery } from './types.js';

/**
 * Every SQL text the store runs, written once with `?` placeholders for both backends.
 * Object reads join `object_refs` so that one statement returns an object with its refs: a single
 * statement sees one consistent snapshot on both databases (one row per ref, grouped in rows.ts).
 */

const OBJECT_COLUMNS =
  'o.id, o.kind, o.resource_set_id, o.name, o.description, o.enabled, o.spec, o.secrets, ' +
  'o.lookup_key, o.created_at, o.updated_at, r.to_id AS ref_id';
const OBJECT_WITH_REFS = `SELECT ${OBJECT_COLUMNS} FROM objects o LEFT JOIN object_refs r ON r.from_id = o.id`;

const AUDIT_COLUMNS =
  'id, time, kind, outcome, reason, resource_set_id, actor, client_workload_id, server_workload_id, object_id, data';

export const SQL = {
  selectObjectById: `${OBJECT_WITH_REFS} WHERE o.id = ? ORDER BY r.to_id`,
  // Same expression as the unique index, so the index serves the lookup.
  selectObjectByName:
    `${OBJECT_WITH_REFS} WHERE o.kind = ? AND COALESCE(o.resource_set_id, '') = ? AND o.name = ? ` +
    'ORDER BY r.to_id',
  selectObjectByLookupKey: `${OBJECT_WITH_REFS} WHERE o.lookup_key = ? ORDER BY r.to_id`,
  insertObject:
    'INSERT INTO objects (id, kind, resource_set_id, name, description, enabled, spec, secrets, lookup_key, ' +
    'created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  updateObject:
    'UPDATE objects SET kind = ?, resource_set_id = ?, name = ?, description = ?, enabled = ?, spec = ?, ' +
    'secrets = ?, lookup_key = ?, created_at = ?, updated_at = ? WHERE id = ?',
  deleteObject: 'DELETE FROM objects WHERE id = ?',
  deleteRefs: 'DELETE FROM object_refs WHERE from_id = ?',
  // Both kinds of reference: explicit refs, and membership of a resource set.
  selectReferrers:
    'SELECT o.id, o.kind, o.name FROM object_refs r JOIN objects o ON o.id = r.from_id WHERE r.to_id = ? ' +
    'UNION SELECT id, kind, name FROM objects WHERE resource_set_id = ? ORDER BY id',
  insertAuditEvent: `INSERT INTO audit_events (${AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  // Retention, one step: the ids to look at (after, before, limit) ...
  selectAuditIdsToPrune: 'SELECT id FROM audit_events WHERE id > ? AND id < ? ORDER BY id LIMIT ?',
  // ... then the old ones among them (after, last looked at) that every log stream of their set
  // has exported: no stream there without a cursor, or with a cursor below the event. A disabled
  // stream counts too: enabled again, it resumes at its cursor.
  pruneAuditEvents:
    'DELETE FROM audit_events WHERE id > ? AND id <= ? AND NOT EXISTS (' +
    'SELECT 1 FROM objects s LEFT JOIN log_stream_cursors c ON c.stream_id = s.id ' +
    "WHERE s.kind = 'log-stream' AND s.resource_set_id = audit_events.resource_set_id " +
    'AND (c.last_event_id IS NULL OR c.last_event_id < audit_events.id))',
  insertSigningKey:
    'INSERT INTO signing_keys (kid, alg, public_jwk, private_key, created_at, retired_at, publish_until) ' +
    'VALUES (?, ?, ?, ?, ?, ?, ?)',
  updateSigningKey:
    'UPDATE signing_keys SET alg = ?, public_jwk = ?, private_key = ?, created_at = ?, retired_at = ?, ' +
    'publish_until = ? WHERE kid = ?',
  deleteSigningKey: 'DELETE FROM signing_keys WHERE kid = ?',
  selectSigningKeys:
    'SELECT kid, alg, public_jwk, private_key, created_at, retired_at, publish_until FROM signing_keys ' +
    'ORDER BY created_at, kid',
  selectMeta: 'SELECT value FROM meta WHERE key = ?',
  upsertMeta: 'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
  selectCursor: 'SELECT stream_id, last_event_id, updated_at FROM log_stream_cursors WHERE stream_id = ?',
  upsertCursor:
    'INSERT INTO log_stream_cursors (stream_id, last_event_id, updated_at) VALUES (?, ?, ?) ' +
    'ON CONFLICT (stream_id) DO UPDATE SET last_event_id = excluded.last_event_id, updated_at = excluded.updated_at',
  deleteCursor: 'DELETE FROM log_stream_cursors WHERE stream_id = ?',
  // One statement, so two replicas racing for an expired lease cannot both win: the loser's
  // conflict update finds the winner's fresh row and its WHERE fails (0 rows changed).
  // Parameters: name, holder, expires_at, now.
  acquireLease:
    'INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) ' +
    'ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at ' +
    'WHERE leases.holder = excluded.holder OR leases.expires_at < ?',
  releaseLease: 'DELETE FROM leases WHERE name = ? AND holder = ?',
  ping: 'SELECT 1 AS ok',
} as const;

export interface BoundSql {
  sql: string;
  params: SqlValue[];
}

function placeholders(count: number): string {
  return Array.from({ length: count }, () => '?').join(', ');
}

/** One multi-row INSERT: one round trip on PostgreSQL however many refs an object has. */
export function insertRefs(fromId: string, toIds: readonly string[]): BoundSql {
  return {
    sql: `INSERT INTO object_refs (from_id, to_id) VALUES ${toIds.map(() => '(?, ?)').join(', ')}`,
    params: toIds.flatMap((toId) => [fromId, toId]),
  };
}

export function listObjects(query: ListObjectsQuery): BoundSql {
  const conditions = ['kind = ?'];
  const params: SqlValue[] = [query.kind];
  if (query.resourceSetIds !== undefined) {
    conditions.push(`resource_set_id IN (${placeholders(query.resourceSetIds.length)})`);
    params.push(...query.resourceSetIds);
  }
  if (query.name !== undefined) {
    conditions.push('name = ?');
    params.push(query.name);
  }
  if (query.afterId !== undefined) {
    conditions.push('id > ?');
    params.push(query.afterId);
  }
  params.push(query.limit);
  // LIMIT applies to objects, not to the joined ref rows, hence the subquery.
  const page = `SELECT * FROM objects WHERE ${conditions.join(' AND ')} ORDER BY id LIMIT ?`;
  return {
    sql: `SELECT ${OBJECT_COLUMNS} FROM (${page}) o LEFT JOIN object_refs r ON r.from_id = o.id ORDER BY o.id, r.to_id`,
    params,
  };
}

export function listAuditEvents(query: ListAuditQuery): BoundSql {
  const conditions: string[] = [];
  const params: SqlValue[] = [];
  const where = (condition: string, ...values: SqlValue[]): void => {
    conditions.push(condition);
    params.push(...values);
  };
  if (query.resourceSetIds !== undefined) {
    where(`resource_set_id IN (${placeholders(query.resourceSetIds.length)})`, ...query.resourceSetIds);
  }
  if (query.since !== undefined) where('time >= ?', query.since);
  if (query.until !== undefined) where('time < ?', query.until);
  if (query.kind !== undefined) where('kind = ?', query.kind);
  if (query.outcome !== undefined) where('outcome = ?', query.outcome);
  if (query.actor !== undefined) where('actor = ?', query.actor);
  if (query.clientWorkloadId !== undefined) where('client_workload_id = ?', query.clientWorkloadId);
  if (query.serverWorkloadId !== undefined) where('server_workload_id = ?', query.serverWorkloadId);
  if (query.objectId !== undefined) where('object_id = ?', query.objectId);
  if (query.beforeId !== undefined) where('id < ?', query.beforeId);
  params.push(query.limit);
  const filter = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')} ` : '';
  return { sql: `SELECT ${AUDIT_COLUMNS} FROM audit_events ${filter}ORDER BY id DESC LIMIT ?`, params };
}

export function listAuditEventsAfter(afterId: string | null, options: AuditAfterOptions): BoundSql {
  const conditions: string[] = [];
  const params: SqlValue[] = [];
  if (options.resourceSetId !== null) {
    conditions.push('resource_set_id = ?');
    params.push(options.resourceSetId);
  }
  if (afterId !== null) {
    conditions.push('id > ?');
    params.push(afterId);
  }
  if (options.beforeId !== undefined) {
    conditions.push('id < ?');
    params.push(options.beforeId);
  }
  params.push(options.limit);
  const filter = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')} ` : '';
  return { sql: `SELECT ${AUDIT_COLUMNS} FROM audit_events ${filter}ORDER BY id LIMIT ?`, params };
}
