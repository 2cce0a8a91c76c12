import type { ExporterLogger } from '../audit/export-status.js';
import { describeFailure } from '../audit/sink.js';
import { leaseHolderId, PeriodicPass, runLeasedSteps } from '../store/periodic-pass.js';
import type { Store, StoreWriter } from '../store/types.js';

/**
 * How long a report id is remembered. An SDK retries a report until the control plane answers;
 * it names its last report in the next one, and that id goes at once. Ids left over (from
 * processes that ended) go after this long; a retry later than that would count twice.
 */
export const REPORT_ID_TTL_MS = 24 * 3_600_000;

export interface MetricsRetentionOptions {
  store: Store;
  /** Rows of minutes older than this are deleted; undefined keeps them all (report ids still go). */
  maxAgeMs?: number;
  /** Time between passes (default 10 minutes). The lease of a pass lasts as long. */
  intervalMs?: number;
  /** Time from start() to the first pass (default 15 s). */
  firstPassDelayMs?: number;
  /** Rows deleted per step, each step one short transaction (default 500). */
  stepSize?: number;
  /** Pause between steps, so that requests and writes take turns with deletion (default 20 ms). */
  pauseMs?: number;
  holderId?: string;
  now?: () => Date;
  logger?: ExporterLogger;
}

const LEASE = 'request-metrics-retention';
const silentLogger: ExporterLogger = { debug() {}, info() {}, warn() {} };

/**
 * Deletes old request metrics and forgotten report ids, periodically, in small steps (like audit
 * retention: node:sqlite is synchronous, one big DELETE would stall every request). With several
 * replicas, a lease lets one of them run each pass.
 */
export class MetricsRetention {
  readonly #options: MetricsRetentionOptions;
  readonly #holder: string;
  readonly #now: () => Date;
  readonly #intervalMs: number;
  readonly #periodic: PeriodicPass<{ rows: number; reports: number } | undefined>;

  constructor(options: MetricsRetentionOptions) {
    this.#options = options;
    this.#holder = options.holderId ?? leaseHolderId();
    this.#now = options.now ?? (() => new Date());
    this.#intervalMs = options.intervalMs ?? 600_000;
    this.#periodic = new PeriodicPass(() => this.#pass(), { intervalMs: this.#intervalMs, firstDelayMs: options.firstPassDelayMs ?? 15_000 });
  }

  start(): void {
    this.#periodic.start();
  }

  /** Ends the pass in progress after its current step. */
  async stop(): Promise<void> {
    await this.#periodic.stop();
  }

  /** Runs one pass now: what it deleted, or undefined when another replica holds the lease. */
  runOnce(): Promise<{ rows: number; reports: number } | undefined> {
    return this.#periodic.runOnce();
  }

  async #pass(): Promise<{ rows: number; reports: number } | undefined> {
    const now = this.#now().getTime();
    const { maxAgeMs } = this.#options;
    try {
      const rows = maxAgeMs === undefined ? 0 : await this.#prune((tx, limit) => tx.pruneRequestMetrics(new Date(now - maxAgeMs).toISOString(), limit));
      if (rows === undefined) return undefined;
      const reports = await this.#prune((tx, limit) => tx.pruneMetricReports(new Date(now - REPORT_ID_TTL_MS).toISOString(), limit));
      if (reports === undefined) return undefined;
      if (rows > 0) this.#options.logger?.info({ deleted: rows }, 'request metrics retention: deleted old request metrics');
      return { rows, reports };
    } catch (error) {
      (this.#options.logger ?? silentLogger).warn({ error: describeFailure(error) }, 'request metrics retention: pass failed; the next one continues');
      return undefined;
    }
  }

  /** Steps until a step deletes less than a full one; undefined when the lease is held elsewhere. */
  async #prune(step: (tx: StoreWriter, limit: number) => Promise<number>): Promise<number | undefined> {
    const stepSize = this.#options.stepSize ?? 500;
    let deleted = 0;
    const { leaseLost } = await runLeasedSteps(
      { store: this.#options.store, lease: LEASE, holder: this.#holder, leaseMs: this.#intervalMs, now: this.#now, pauseMs: this.#options.pauseMs ?? 20, stopping: () => this.#periodic.stopping },
      async (tx) => {
        const count = await step(tx, stepSize);
        deleted += count;
        return count < stepSize ? 'done' : 'more';
      },
    );
    return leaseLost ? undefined : deleted;
  }
}
