/**
 * The one storage contract of the control plane. Two backends implement it — embedded SQLite
 * (`node:sqlite`) and PostgreSQL — over one schema and one migration set, and one test suite
 * (`store.test.ts`) runs against both.
 *
 * Every control-plane object lives in one `objects` table: the common fields are columns, the
 * kind-specific fields are a JSON `spec`, secrets are an opaque encrypted envelope. References
 * between objects are rows of `object_refs` with real foreign keys, so the database itself
 * refuses a dangling reference or the deletion of a referenced object, under any concurrency.
 */

export const OBJECT_KINDS = [
  'resource-set',
  'admin-key',
  'client-workload',
  'server-workload',
  'trust-provider',
  'credential-provider',
  'access-condition',
  'access-policy',
  'log-stream',
] as const;

export type ObjectKind = (typeof OBJECT_KINDS)[number];

/** Kinds that live outside any resource set (their `resourceSetId` is null). */
export const GLOBAL_KINDS: ReadonlySet<ObjectKind> = new Set(['resource-set', 'admin-key']);

export interface StoredObject {
  id: string;
  kind: ObjectKind;
  /** null for global kinds (resource sets, admin keys). */
  resourceSetId: string | null;
  name: string;
  description: string;
  enabled: boolean;
  /** Kind-specific fields, stored as JSON. Never holds a secret value. */
  spec: Record<string, unknown>;
  /** Encrypted secrets envelope (see crypto/secret-box.ts), or null when the object has none. */
  secrets: string | null;
  /** A unique lookup value (the hash of an admin key), or null. */
  lookupKey: string | null;
  /** Ids of the objects this one references (stored as `object_refs` rows). */
  refs: string[];
  createdAt: string; // ISO 8601, UTC, millisecond precision
  updatedAt: string;
}

export interface ListObjectsQuery {
  kind: ObjectKind;
  /** Only objects in these resource sets; undefined means every set. */
  resourceSetIds?: readonly string[];
  /** Exact name match. */
  name?: string;
  /** Keyset pagination: only ids greater than this one. */
  afterId?: string;
  /** At most this many rows (the caller asks for one more to know whether a next page exists). */
  limit: number;
}

export type AuditOutcome = 'allow' | 'deny' | 'error' | 'success';

export interface AuditEvent {
  id: string; // UUIDv7, so id order is time order
  time: string; // ISO 8601
  kind: string; // 'admin.change', 'edge.attest', 'edge.credential', ...
  outcome: AuditOutcome;
  reason: string | null;
  resourceSetId: string | null;
  /** Who acted: an admin key id, or a client workload id for edge events. */
  actor: string | null;
  clientWorkloadId: string | null;
  serverWorkloadId: string | null;
  /** The object an admin change touched. */
  objectId: string | null;
  /** Everything else about the event. Never a credential or secret value. */
  data: Record<string, unknown>;
}

export interface ListAuditQuery {
  /** Only events of these resource sets (events with no set are then excluded); undefined = all. */
  resourceSetIds?: readonly string[];
  since?: string; // inclusive ISO time
  until?: string; // exclusive ISO time
  kind?: string;
  outcome?: AuditOutcome;
  actor?: string;
  clientWorkloadId?: string;
  serverWorkloadId?: string;
  objectId?: string;
  /** Newest first: only ids smaller than this one. */
  beforeId?: string;
  limit: number;
}

/** Options of `listAuditEventsAfter`, the exporters' read: oldest first, from a cursor. */
export interface AuditAfterOptions {
  /** Only events of this resource set; null means events of every set (and of none). */
  resourceSetId: string | null;
  /** Only ids smaller than this one: lets an exporter leave the newest, possibly still racing, events for later. */
  beforeId?: string;
  limit: number;
}

/** One bounded step of audit retention: the next `limit` events after `afterId`, all older than `beforeId`. */
export interface PruneAuditStep {
  /** Where the previous step stopped (null: from the oldest event). */
  afterId: string | null;
  /** Only events with a smaller id are deleted: `idFloor(the cutoff time)`. */
  beforeId: string;
  limit: number;
}

export interface PruneAuditResult {
  /** Events looked at: fewer than `limit` means there are no more old events. */
  examined: number;
  deleted: number;
  /** The last event looked at: the `afterId` of the next step (null when none was). */
  lastId: string | null;
}

export type RequestOutcome = 'allow' | 'deny' | 'error';

/**
 * Requests reported by SDKs, added up per minute and key. `serverWorkloadId`, `statusClass` and
 * `reason` are null when there is none; `target` is an origin (`https://api.example.com:443`), or
 * `*` where a client workload's distinct keys in one minute went past the limit (see metrics/).
 */
export interface RequestMetricRow {
  /** Start of the minute (or hour, in a listing by hour), ISO 8601. */
  time: string;
  resourceSetId: string;
  clientWorkloadId: string;
  serverWorkloadId: string | null;
  target: string;
  outcome: RequestOutcome;
  statusClass: string | null;
  reason: string | null;
  requests: number;
  latencyMsSum: number;
  /** Requests per latency bucket (metrics/latency-buckets.ts); they add up to `requests`. */
  latencyBuckets: number[];
}

/** The key columns of a row in listing order: what a page cursor holds. */
export type RequestMetricPosition = readonly [time: string, resourceSetId: string, clientWorkloadId: string, serverWorkloadId: string, target: string, outcome: string, statusClass: string, reason: string];

export interface ListRequestMetricsQuery {
  /** Only rows of these resource sets; undefined = all. */
  resourceSetIds?: readonly string[];
  since?: string; // inclusive ISO time, compared with the minute
  until?: string; // exclusive
  clientWorkloadId?: string;
  serverWorkloadId?: string;
  outcome?: RequestOutcome;
  /** Rows per minute as stored, or added up per hour. */
  groupBy: 'minute' | 'hour';
  /** Newest first: only rows after this position. */
  after?: RequestMetricPosition;
  limit: number;
}

/** A report whose rows are being added: remembered so that the same report is counted once. */
export interface MetricReportClaim {
  resourceSetId: string;
  reportId: string;
  clientWorkloadId: string;
  receivedAt: string;
}

/** Where a log stream's export stands: the id of the last event it delivered. */
export interface LogStreamCursor {
  streamId: string;
  lastEventId: string;
  updatedAt: string;
}

export interface SigningKeyRecord {
  kid: string;
  /** ES256 (P-256) signs by default; RS256 (RSA) only for relying parties that accept nothing else. */
  alg: 'ES256' | 'RS256';
  /** Public JWK as JSON (kty, crv, x, y or kty, n, e; then kid, alg, use). */
  publicJwk: Record<string, unknown>;
  /** Encrypted private key envelope (PKCS#8), never plaintext. */
  privateKey: string;
  createdAt: string;
  /** When this key stopped signing; null while it is the active key. */
  retiredAt: string | null;
  /** Until when its public half stays in the JWKS; null while active. */
  publishUntil: string | null;
}

/** Operations available both inside and outside a transaction. */
export interface StoreReader {
  getObject(id: string): Promise<StoredObject | undefined>;
  getObjectByName(kind: ObjectKind, resourceSetId: string | null, name: string): Promise<StoredObject | undefined>;
  getObjectByLookupKey(lookupKey: string): Promise<StoredObject | undefined>;
  listObjects(query: ListObjectsQuery): Promise<StoredObject[]>;
  /** Ids and kinds of objects that reference `id` (for a helpful 409). */
  listReferrers(id: string): Promise<Array<{ id: string; kind: ObjectKind; name: string }>>;
  listAuditEvents(query: ListAuditQuery): Promise<AuditEvent[]>;
  /** Oldest first: events with an id greater than `afterId` (every event when null). */
  listAuditEventsAfter(afterId: string | null, options: AuditAfterOptions): Promise<AuditEvent[]>;
  /** Newest first, then by key (descending): one page. */
  listRequestMetrics(query: ListRequestMetricsQuery): Promise<RequestMetricRow[]>;
  getLogStreamCursor(streamId: string): Promise<LogStreamCursor | undefined>;
  listSigningKeys(): Promise<SigningKeyRecord[]>;
  getMeta(key: string): Promise<string | undefined>;
}

export interface StoreWriter extends StoreReader {
  /** Throws StoreError `unique_violation` or `foreign_key_violation`. */
  insertObject(object: StoredObject): Promise<void>;
  /** Replaces every column and the refs of the object with this id. Same errors as insert. */
  updateObject(object: StoredObject): Promise<void>;
  /** Throws StoreError `foreign_key_violation` when another object still references it. Returns false if absent. */
  deleteObject(id: string): Promise<boolean>;
  appendAuditEvent(event: AuditEvent): Promise<void>;
  /**
   * Deletes the old events of one step, except those a log stream of their resource set (enabled
   * or not) has not exported yet (its cursor is below them, or it has none): export loses none.
   */
  pruneAuditEvents(step: PruneAuditStep): Promise<PruneAuditResult>;
  /**
   * Remembers a report id (per resource set); false when it was already remembered: that report
   * was counted before, and its rows must not be added again.
   */
  claimMetricReport(claim: MetricReportClaim): Promise<boolean>;
  /** Forgets a report id its SDK no longer retries (it sent a later report). */
  forgetMetricReport(resourceSetId: string, clientWorkloadId: string, reportId: string): Promise<void>;
  /** Adds the rows to what is stored under their keys (`time` is the minute). No key twice. */
  addRequestMetrics(rows: readonly RequestMetricRow[]): Promise<void>;
  /** Deletes at most `limit` rows of minutes before `before`; returns how many. */
  pruneRequestMetrics(before: string, limit: number): Promise<number>;
  /** Deletes at most `limit` report ids received before `before`; returns how many. */
  pruneMetricReports(before: string, limit: number): Promise<number>;
  insertSigningKey(key: SigningKeyRecord): Promise<void>;
  updateSigningKey(key: SigningKeyRecord): Promise<void>;
  deleteSigningKey(kid: string): Promise<void>;
  setMeta(key: string, value: string): Promise<void>;
  setLogStreamCursor(streamId: string, lastEventId: string, updatedAt: string): Promise<void>;
  deleteLogStreamCursor(streamId: string): Promise<void>;
  /**
   * Takes or renews the named lease for `ttlMs` from `now`, in one atomic statement: succeeds
   * when the lease is free, expired, or already held by `holder`. Returns whether it is held.
   */
  tryAcquireLease(name: string, holder: string, ttlMs: number, now: Date): Promise<boolean>;
  /** Gives the lease up if `holder` holds it; returns whether it did. */
  releaseLease(name: string, holder: string): Promise<boolean>;
  /**
   * Holds `topic` until the transaction ends: transactions that hold the same topic run from
   * here on one at a time, and each sees what the ones before it committed. For a check that no
   * unique index can make (read, then write), on every replica.
   */
  serialize(topic: string): Promise<void>;
}

/** Objects changed elsewhere: reload these ids (missing = deleted), or everything. */
export type ObjectsChange = { readonly all: true } | { readonly all?: false; readonly ids: readonly string[] };
export type ObjectsChangeListener = (change: ObjectsChange) => void;

export interface Store extends StoreReader {
  readonly dialect: 'sqlite' | 'postgres';
  /** Applies pending migrations; safe to call from several replicas at once. */
  migrate(): Promise<void>;
  /**
   * Runs `fn` in one serializable-enough transaction: committed when it resolves, rolled back
   * when it throws (the error is rethrown). Writes happen only inside transactions.
   */
  transaction<T>(fn: (tx: StoreWriter) => Promise<T>): Promise<T>;
  /**
   * Subscribes to object changes committed by *other* store instances (other replicas): ids of
   * inserted, updated or deleted objects, or `{all: true}` when they may have been missed (many at
   * once, or a lost connection; and first of all, once the subscription is live). This instance's
   * own writes are not announced to it. Returns the unsubscribe function.
   */
  onObjectsChanged(listener: ObjectsChangeListener): () => void;
  /** Cheap liveness probe for /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export type StoreErrorCode = 'unique_violation' | 'foreign_key_violation' | 'unavailable' | 'migration_failed';

/** A backend-neutral storage error; the message never holds row values. */
export class StoreError extends Error {
  override name = 'StoreError';
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
