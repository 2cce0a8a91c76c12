import type { SqlRow, SqlValue } from './executor.js';
import { OBJECT_KINDS } from './types.js';
import type { AuditEvent, AuditOutcome, LogStreamCursor, ObjectKind, SigningKeyRecord, StoredObject } from './types.js';

/**
 * Conversion between typed records and database rows. Rows come back as plain objects from pg and
 * as null-prototype objects from node:sqlite; either way we copy the fields we know into fresh,
 * ordinary objects, checking their types so a bad row fails loudly here rather than later.
 */

const objectKinds: ReadonlySet<string> = new Set(OBJECT_KINDS);

function text(row: SqlRow, column: string): string {
  const value = row[column];
  if (typeof value !== 'string') throw new TypeError(`column ${column}: expected text, got ${typeof value}`);
  return value;
}

function nullableText(row: SqlRow, column: string): string | null {
  return row[column] === null || row[column] === undefined ? null : text(row, column);
}

function json(row: SqlRow, column: string): Record<string, unknown> {
  const value: unknown = JSON.parse(text(row, column));
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`column ${column}: expected a JSON object`);
  }
  return value as Record<string, unknown>;
}

function kind(row: SqlRow): ObjectKind {
  const value = text(row, 'kind');
  if (!objectKinds.has(value)) throw new TypeError('column kind: unknown object kind');
  return value as ObjectKind;
}

/** Groups the rows of an objects ⟕ object_refs join (ordered by id, then ref) into objects. */
export function objectsFromRows(rows: readonly SqlRow[]): StoredObject[] {
  const objects: StoredObject[] = [];
  let current: StoredObject | undefined;
  for (const row of rows) {
    const id = text(row, 'id');
    if (current?.id !== id) {
      current = {
        id,
        kind: kind(row),
        resourceSetId: nullableText(row, 'resource_set_id'),
        name: text(row, 'name'),
        description: text(row, 'description'),
        enabled: Number(row.enabled) !== 0,
        spec: json(row, 'spec'),
        secrets: nullableText(row, 'secrets'),
        lookupKey: nullableText(row, 'lookup_key'),
        refs: [],
        createdAt: text(row, 'created_at'),
        updatedAt: text(row, 'updated_at'),
      };
      objects.push(current);
    }
    const refId = nullableText(row, 'ref_id');
    if (refId !== null) current.refs.push(refId);
  }
  // Sort in JS as well: a PostgreSQL collation other than C may order ids differently.
  for (const object of objects) object.refs.sort();
  return objects;
}

/** Column values in the order of SQL.insertObject (id first, then the rest). */
export function objectColumns(object: StoredObject): { id: string; rest: SqlValue[] } {
  return {
    id: object.id,
    rest: [
      object.kind,
      object.resourceSetId,
      object.name,
      object.description,
      object.enabled ? 1 : 0,
      JSON.stringify(object.spec),
      object.secrets,
      object.lookupKey,
      object.createdAt,
      object.updatedAt,
    ],
  };
}

export function referrerFromRow(row: SqlRow): { id: string; kind: ObjectKind; name: string } {
  return { id: text(row, 'id'), kind: kind(row), name: text(row, 'name') };
}

export function auditEventFromRow(row: SqlRow): AuditEvent {
  return {
    id: text(row, 'id'),
    time: text(row, 'time'),
    kind: text(row, 'kind'),
    outcome: text(row, 'outcome') as AuditOutcome,
    reason: nullableText(row, 'reason'),
    resourceSetId: nullableText(row, 'resource_set_id'),
    actor: nullableText(row, 'actor'),
    clientWorkloadId: nullableText(row, 'client_workload_id'),
    serverWorkloadId: nullableText(row, 'server_workload_id'),
    objectId: nullableText(row, 'object_id'),
    data: json(row, 'data'),
  };
}

export function auditEventValues(event: AuditEvent): SqlValue[] {
  return [
    event.id,
    event.time,
    event.kind,
    event.outcome,
    event.reason,
    event.resourceSetId,
    event.actor,
    event.clientWorkloadId,
    event.serverWorkloadId,
    event.objectId,
    JSON.stringify(event.data),
  ];
}

export function signingKeyFromRow(row: SqlRow): SigningKeyRecord {
  const alg = text(row, 'alg');
  if (alg !== 'ES256' && alg !== 'RS256') throw new TypeError('column alg: unsupported algorithm');
  return {
    kid: text(row, 'kid'),
    alg,
    publicJwk: json(row, 'public_jwk'),
    privateKey: text(row, 'private_key'),
    createdAt: text(row, 'created_at'),
    retiredAt: nullableText(row, 'retired_at'),
    publishUntil: nullableText(row, 'publish_until'),
  };
}

/** Every column but kid, in table order: insert puts kid before them, update after them. */
export function signingKeyColumns(key: SigningKeyRecord): SqlValue[] {
  return [key.alg, JSON.stringify(key.publicJwk), key.privateKey, key.createdAt, key.retiredAt, key.publishUntil];
}

export function cursorFromRow(row: SqlRow): LogStreamCursor {
  return {
    streamId: text(row, 'stream_id'),
    lastEventId: text(row, 'last_event_id'),
    updatedAt: text(row, 'updated_at'),
  };
}
