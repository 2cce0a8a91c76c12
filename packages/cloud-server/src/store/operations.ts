import type { SqlExecutor } from './executor.js';
import * as rows from './rows.js';
import { METRICS_SQL, ROWS_PER_INSERT, listRequestMetrics, requestMetricFromRow, upsertMetrics } from './metrics-sql.js';
import { SQL, insertRefs, listAuditEvents, listAuditEventsAfter, listObjects } from './sql.js';
import type {
  AuditAfterOptions,
  AuditEvent,
  ListAuditQuery,
  ListRequestMetricsQuery,
  LogStreamCursor,
  ListObjectsQuery,
  MetricReportClaim,
  ObjectKind,
  PruneAuditResult,
  PruneAuditStep,
  RequestMetricRow,
  SigningKeyRecord,
  StoreReader,
  StoreWriter,
  StoredObject,
} from './types.js';

/**
 * The store's operations, written once over a SqlExecutor. Inside a transaction the executor is
 * bound to the transaction's connection; outside, to a read connection (reads only).
 */
export class SqlOperations implements StoreWriter {
  constructor(private readonly db: SqlExecutor) {}

  async getObject(id: string): Promise<StoredObject | undefined> {
    return rows.objectsFromRows(await this.db.query(SQL.selectObjectById, [id]))[0];
  }

  async getObjectByName(
    kind: ObjectKind,
    resourceSetId: string | null,
    name: string,
  ): Promise<StoredObject | undefined> {
    const found = await this.db.query(SQL.selectObjectByName, [kind, resourceSetId ?? '', name]);
    return rows.objectsFromRows(found)[0];
  }

  async getObjectByLookupKey(lookupKey: string): Promise<StoredObject | undefined> {
    return rows.objectsFromRows(await this.db.query(SQL.selectObjectByLookupKey, [lookupKey]))[0];
  }

  async listObjects(query: ListObjectsQuery): Promise<StoredObject[]> {
    // An empty set list selects nothing (and `IN ()` is not valid PostgreSQL).
    if (query.resourceSetIds?.length === 0 || query.limit <= 0) return [];
    const { sql, params } = listObjects(query);
    return rows.objectsFromRows(await this.db.query(sql, params));
  }

  async listReferrers(id: string): Promise<Array<{ id: string; kind: ObjectKind; name: string }>> {
    return (await this.db.query(SQL.selectReferrers, [id, id])).map(rows.referrerFromRow);
  }

  async listAuditEvents(query: ListAuditQuery): Promise<AuditEvent[]> {
    if (query.resourceSetIds?.length === 0 || query.limit <= 0) return [];
    const { sql, params } = listAuditEvents(query);
    return (await this.db.query(sql, params)).map(rows.auditEventFromRow);
  }

  async listAuditEventsAfter(afterId: string | null, options: AuditAfterOptions): Promise<AuditEvent[]> {
    if (options.limit <= 0) return [];
    const { sql, params } = listAuditEventsAfter(afterId, options);
    return (await this.db.query(sql, params)).map(rows.auditEventFromRow);
  }

  async listRequestMetrics(query: ListRequestMetricsQuery): Promise<RequestMetricRow[]> {
    if (query.resourceSetIds?.length === 0 || query.limit <= 0) return [];
    const { sql, params } = listRequestMetrics(query);
    return (await this.db.query(sql, params)).map(requestMetricFromRow);
  }

  async getLogStreamCursor(streamId: string): Promise<LogStreamCursor | undefined> {
    const [row] = await this.db.query(SQL.selectCursor, [streamId]);
    return row === undefined ? undefined : rows.cursorFromRow(row);
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    return (await this.db.query(SQL.selectSigningKeys)).map(rows.signingKeyFromRow);
  }

  async getMeta(key: string): Promise<string | undefined> {
    const [row] = await this.db.query(SQL.selectMeta, [key]);
    return row === undefined ? undefined : String(row.value);
  }

  async insertObject(object: StoredObject): Promise<void> {
    const { id, rest } = rows.objectColumns(object);
    await this.atomically(async () => {
      await this.db.run(SQL.insertObject, [id, ...rest]);
      await this.writeRefs(id, object.refs, false);
    });
  }

  async updateObject(object: StoredObject): Promise<void> {
    const { id, rest } = rows.objectColumns(object);
    await this.atomically(async () => {
      const changed = await this.db.run(SQL.updateObject, [...rest, id]);
      // The contract has no "not found" code; updating a missing object is a caller bug or a lost race.
      if (changed === 0) throw new Error('updateObject: no object with this id');
      await this.writeRefs(id, object.refs, true);
    });
  }

  async deleteObject(id: string): Promise<boolean> {
    // Refs *from* this object go by ON DELETE CASCADE; refs *to* it make the delete fail.
    return (await this.db.run(SQL.deleteObject, [id])) > 0;
  }

  async appendAuditEvent(event: AuditEvent): Promise<void> {
    await this.db.run(SQL.insertAuditEvent, rows.auditEventValues(event));
  }

  async pruneAuditEvents(step: PruneAuditStep): Promise<PruneAuditResult> {
    const after = step.afterId ?? '';
    const ids = await this.db.query(SQL.selectAuditIdsToPrune, [after, step.beforeId, step.limit]);
    if (ids.length === 0) return { examined: 0, deleted: 0, lastId: null };
    const lastId = String(ids[ids.length - 1]!.id);
    const deleted = await this.db.run(SQL.pruneAuditEvents, [after, lastId]);
    return { examined: ids.length, deleted, lastId };
  }

  async claimMetricReport(claim: MetricReportClaim): Promise<boolean> {
    const params = [claim.resourceSetId, claim.reportId, claim.clientWorkloadId, claim.receivedAt];
    return (await this.db.run(METRICS_SQL.claimReport, params)) > 0;
  }

  async forgetMetricReport(resourceSetId: string, clientWorkloadId: string, reportId: string): Promise<void> {
    await this.db.run(METRICS_SQL.forgetReport, [resourceSetId, reportId, clientWorkloadId]);
  }

  async addRequestMetrics(rows: readonly RequestMetricRow[]): Promise<void> {
    for (let start = 0; start < rows.length; start += ROWS_PER_INSERT) {
      const { sql, params } = upsertMetrics(rows.slice(start, start + ROWS_PER_INSERT));
      await this.db.run(sql, params);
    }
  }

  async pruneRequestMetrics(before: string, limit: number): Promise<number> {
    return this.db.run(METRICS_SQL.pruneMetrics, [before, limit]);
  }

  async pruneMetricReports(before: string, limit: number): Promise<number> {
    return this.db.run(METRICS_SQL.pruneReports, [before, limit]);
  }

  async insertSigningKey(key: SigningKeyRecord): Promise<void> {
    await this.db.run(SQL.insertSigningKey, [key.kid, ...rows.signingKeyColumns(key)]);
  }

  async updateSigningKey(key: SigningKeyRecord): Promise<void> {
    await this.db.run(SQL.updateSigningKey, [...rows.signingKeyColumns(key), key.kid]);
  }

  async deleteSigningKey(kid: string): Promise<void> {
    await this.db.run(SQL.deleteSigningKey, [kid]);
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.db.run(SQL.upsertMeta, [key, value]);
  }

  async setLogStreamCursor(streamId: string, lastEventId: string, updatedAt: string): Promise<void> {
    await this.db.run(SQL.upsertCursor, [streamId, lastEventId, updatedAt]);
  }

  async deleteLogStreamCursor(streamId: string): Promise<void> {
    await this.db.run(SQL.deleteCursor, [streamId]);
  }

  async tryAcquireLease(name: string, holder: string, ttlMs: number, now: Date): Promise<boolean> {
    const expiresAt = new Date(now.getTime() + ttlMs).toISOString();
    return (await this.db.run(SQL.acquireLease, [name, holder, expiresAt, now.toISOString()])) > 0;
  }

  async releaseLease(name: string, holder: string): Promise<boolean> {
    return (await this.db.run(SQL.releaseLease, [name, holder])) > 0;
  }

  async serialize(topic: string): Promise<void> {
    // Writing one row takes its lock until COMMIT or ROLLBACK (PostgreSQL makes a second writer
    // wait, and its later statements then see the first's rows); SQLite runs one write
    // transaction at a time anyway.
    await this.db.run(SQL.upsertMeta, [`serialize:${topic}`, '']);
  }

  private async writeRefs(id: string, refs: readonly string[], replace: boolean): Promise<void> {
    if (replace) await this.db.run(SQL.deleteRefs, [id]);
    const unique = [...new Set(refs)].sort();
    if (unique.length === 0) return;
    const { sql, params } = insertRefs(id, unique);
    await this.db.run(sql, params);
  }

  /**
   * Runs a multi-statement operation under a savepoint, so a failure undoes all of it while the
   * transaction stays usable: without this a caught FK error would leave an object row without
   * its refs on SQLite, and would poison the whole transaction on PostgreSQL.
   */
  private async atomically(operation: () => Promise<void>): Promise<void> {
    await this.db.exec('SAVEPOINT tessera_operation');
    try {
      await operation();
    } catch (error) {
      await this.db.exec('ROLLBACK TO SAVEPOINT tessera_operation').catch(() => undefined);
      throw error;
    } finally {
      await this.db.exec('RELEASE SAVEPOINT tessera_operation').catch(() => undefined);
    }
  }
}

/**
 * Implements StoreReader by handing each call to `read`, which each backend defines to pick the
 * connection (and, for SQLite in memory, to wait for the transaction lock).
 */
export abstract class ReaderFacade implements StoreReader {
  protected abstract read<T>(operation: (reader: StoreReader) => Promise<T>): Promise<T>;

  getObject(id: string): Promise<StoredObject | undefined> {
    return this.read((reader) => reader.getObject(id));
  }
  getObjectByName(kind: ObjectKind, resourceSetId: string | null, name: string): Promise<StoredObject | undefined> {
    return this.read((reader) => reader.getObjectByName(kind, resourceSetId, name));
  }
  getObjectByLookupKey(lookupKey: string): Promise<StoredObject | undefined> {
    return this.read((reader) => reader.getObjectByLookupKey(lookupKey));
  }
  listObjects(query: ListObjectsQuery): Promise<StoredObject[]> {
    return this.read((reader) => reader.listObjects(query));
  }
  listReferrers(id: string): Promise<Array<{ id: string; kind: ObjectKind; name: string }>> {
    return this.read((reader) => reader.listReferrers(id));
  }
  listAuditEvents(query: ListAuditQuery): Promise<AuditEvent[]> {
    return this.read((reader) => reader.listAuditEvents(query));
  }
  listAuditEventsAfter(afterId: string | null, options: AuditAfterOptions): Promise<AuditEvent[]> {
    return this.read((reader) => reader.listAuditEventsAfter(afterId, options));
  }
  listRequestMetrics(query: ListRequestMetricsQuery): Promise<RequestMetricRow[]> {
    return this.read((reader) => reader.listRequestMetrics(query));
  }
  getLogStreamCursor(streamId: string): Promise<LogStreamCursor | undefined> {
    return this.read((reader) => reader.getLogStreamCursor(streamId));
  }
  listSigningKeys(): Promise<SigningKeyRecord[]> {
    return this.read((reader) => reader.listSigningKeys());
  }
  getMeta(key: string): Promise<string | undefined> {
    return this.read((reader) => reader.getMeta(key));
  }
}
