import type { SecretBox } from '../crypto/secret-box.js';
import type { Store, StoredObject } from '../store/types.js';
import { describeFailure, type AuditSink } from './sink.js';
import { createSink, exportStreamOf, fileNameConflicts, legacyFileOwners, type ExportStream, type SinkContext } from './stream-config.js';
import { invalidStatus, type ExporterLogger, type LogStreamExportStatus } from './export-status.js';
import { StreamRunner } from './stream-runner.js';
import { DestinationGuard } from '../egress/destination-guard.js';
import { leaseHolderId } from '../store/periodic-pass.js';

export type { ExporterLogger, LogStreamExportStatus } from './export-status.js';

export interface AuditExporterOptions {
  store: Store;
  box: SecretBox;
  /** File streams write under `<dataDir>/audit/<resourceSetId>/`. */
  dataDir: string;
  /** Where webhook streams may connect to (default: public addresses only). */
  guard?: DestinationGuard;
  logger?: ExporterLogger;
  /** This process's name in the `leases` table (default: host, pid and a random suffix). */
  holderId?: string;
  /** How long a stream's lease lasts unless renewed (renewed every third of it). Default 30 s. */
  leaseTtlMs?: number;
  /** How often the set of log streams is re-read, besides on notify(). Default 5 s. */
  reloadIntervalMs?: number;
  /** How old an event must be before it is exported (see StreamRunner). Default 2 s. */
  settleMs?: number;
  now?: () => Date;
  /** Test seam: builds the sink of a stream. */
  createSink?: (stream: ExportStream, context: SinkContext) => AuditSink;
}

const silentLogger: ExporterLogger = { debug() {}, info() {}, warn() {} };
const NOTIFY_RELOAD_DELAY_MS = 200;
const DEFAULT_SETTLE_MS = 2000;
const LIST_PAGE = 500;

/**
 * Exports the audit trail to every enabled log stream. The `audit_events` table is the outbox
 * (events commit with what they record); each stream has a cursor in the store and one runner
 * here. Every replica runs a runner per stream, but only the holder of the stream's lease
 * delivers; the others stand by and take over when the lease expires.
 */
export class AuditExporter {
  readonly #options: AuditExporterOptions;
  readonly #logger: ExporterLogger;
  readonly #holder: string;
  readonly #guard: DestinationGuard;
  readonly #runners = new Map<string, StreamRunner>();
  #problems: LogStreamExportStatus[] = [];
  /** Ids of every log stream (enabled or not) at the last reload, to notice deletions. */
  #known = new Set<string>();
  #reloading: Promise<void> | undefined;
  #reloadAgain = false;
  #reloadTimer: NodeJS.Timeout | undefined;
  #notifyReload: NodeJS.Timeout | undefined;
  #notifyWake: NodeJS.Timeout | undefined;
  #state: 'new' | 'running' | 'stopped' = 'new';

  constructor(options: AuditExporterOptions) {
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    this.#guard = options.guard ?? new DestinationGuard();
    this.#holder = options.holderId ?? leaseHolderId();
  }

  start(): void {
    if (this.#state !== 'new') return;
    this.#state = 'running';
    void this.reload();
    this.#reloadTimer = setInterval(() => void this.reload(), this.#options.reloadIntervalMs ?? 5000);
    this.#reloadTimer.unref();
  }

  /** Events were appended: wake idle streams once they are old enough to export, and re-read the streams. */
  notify(): void {
    if (this.#state !== 'running') return;
    this.#notifyReload ??= setTimeout(() => {
      this.#notifyReload = undefined;
      void this.reload();
    }, NOTIFY_RELOAD_DELAY_MS).unref();
    this.#notifyWake ??= setTimeout(() => {
      this.#notifyWake = undefined;
      for (const runner of this.#runners.values()) runner.wake();
    }, (this.#options.settleMs ?? DEFAULT_SETTLE_MS) + 10).unref();
  }

  /** Stops every stream, each after its delivery in flight. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    clearInterval(this.#reloadTimer);
    clearTimeout(this.#notifyReload);
    clearTimeout(this.#notifyWake);
    await this.#reloading;
    await Promise.all([...this.#runners.values()].map((runner) => runner.stop()));
    this.#runners.clear();
  }

  status(): LogStreamExportStatus[] {
    const all = [...[...this.#runners.values()].map((runner) => runner.status()), ...this.#problems];
    return all.sort((a, b) => (a.streamId < b.streamId ? -1 : 1));
  }

  /** Re-reads the log streams and starts, restarts or stops runners to match. */
  reload(): Promise<void> {
    if (this.#reloading) {
      this.#reloadAgain = true;
      return this.#reloading;
    }
    this.#reloading = (async () => {
      try {
        do {
          this.#reloadAgain = false;
          await this.#reloadOnce().catch((error: unknown) =>
            this.#logger.warn({ error: describeFailure(error) }, 'audit export: cannot read the log streams'),
          );
        } while (this.#reloadAgain && this.#state === 'running');
      } finally {
        this.#reloading = undefined;
      }
    })();
    return this.#reloading;
  }

  async #reloadOnce(): Promise<void> {
    if (this.#state !== 'running') return;
    const objects = await this.#listStreams();
    const wanted = new Map<string, ExportStream>();
    const problems: LogStreamExportStatus[] = [];
    for (const object of objects.filter((each) => each.enabled)) {
      try {
        wanted.set(object.id, exportStreamOf(object, this.#options.box));
      } catch (error) {
        problems.push(invalidStatus(object, describeFailure(error)));
      }
    }
    const legacyOwners = legacyFileOwners([...wanted.values()]);
    for (const [id, owner] of fileNameConflicts([...wanted.values()])) {
      wanted.delete(id);
      problems.push(invalidStatus(objects.find((each) => each.id === id)!, `fileName is already used by log stream ${owner}`));
    }
    // Gone, disabled or changed streams stop first (a changed one restarts below with its new config).
    const ending = [...this.#runners].filter(([id, runner]) => wanted.get(id)?.updatedAt !== runner.stream.updatedAt);
    for (const [id] of ending) this.#runners.delete(id);
    await Promise.all(ending.map(([, runner]) => runner.stop()));
    const present = new Set(objects.map((object) => object.id));
    for (const id of this.#known) {
      if (!present.has(id)) await this.#options.store.transaction((tx) => tx.deleteLogStreamCursor(id));
    }
    this.#known = present;
    const reported = new Map(this.#problems.map((problem) => [problem.streamId, problem.lastError]));
    this.#problems = problems;
    if (this.#state !== 'running') return;
    for (const stream of wanted.values()) {
      if (this.#runners.has(stream.id)) continue;
      try {
        this.#startRunner(stream, legacyOwners.has(stream.id));
      } catch (error) {
        // The sink refused its config (a webhook URL with credentials, say).
        problems.push(invalidStatus(objects.find((each) => each.id === stream.id)!, describeFailure(error)));
      }
    }
    for (const { streamId, lastError } of problems) {
      if (reported.get(streamId) !== lastError) this.#logger.warn({ streamId, error: lastError }, 'audit export: log stream cannot be exported');
    }
  }

  #startRunner(stream: ExportStream, adoptLegacyFiles: boolean): void {
    const { store, dataDir, now, leaseTtlMs, settleMs } = this.#options;
    const build = this.#options.createSink ?? createSink;
    const runner = new StreamRunner(stream, (onFailure) => build(stream, { dataDir, guard: this.#guard, onFailure, adoptLegacyFiles }), {
      store,
      holder: this.#holder,
      leaseTtlMs: leaseTtlMs ?? 30_000,
      settleMs: settleMs ?? DEFAULT_SETTLE_MS,
      now: now ?? (() => new Date()),
      logger: this.#logger,
    });
    this.#runners.set(stream.id, runner);
    runner.start();
  }

  async #listStreams(): Promise<StoredObject[]> {
    const all: StoredObject[] = [];
    for (;;) {
      const afterId = all.length > 0 ? all[all.length - 1]!.id : undefined;
      const page = await this.#options.store.listObjects({
        kind: 'log-stream',
        limit: LIST_PAGE,
        ...(afterId === undefined ? {} : { afterId }),
      });
      all.push(...page);
      if (page.length < LIST_PAGE) return all;
    }
  }
}
