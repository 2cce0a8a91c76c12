import type { Store } from '../store/types.js';
import type { ExporterLogger } from './export-status.js';
import { describeFailure } from './sink.js';
import { idFloor } from './stream-runner.js';
import { leaseHolderId, PeriodicPass, runLeasedSteps } from '../store/periodic-pass.js';

export interface AuditRetentionOptions {
  store: Store;
  /** Events older than this are deleted, once every log stream of their set has exported them. */
  maxAgeMs: number;
  /** Time between passes (default one hour). The lease of a pass lasts as long. */
  intervalMs?: number;
  /** Time from start() to the first pass (default 10 s). */
  firstPassDelayMs?: number;
  /** Events looked at per step, each step one short transaction (default 500). */
  stepSize?: number;
  /** Pause between steps, so that requests and audit writes take turns with deletion (default 20 ms). */
  pauseMs?: number;
  /** This process's name in the `leases` table (default: host, pid and a random suffix). */
  holderId?: string;
  now?: () => Date;
  logger?: ExporterLogger;
}

/** What one pass did. */
export interface RetentionPass {
  deleted: number;
  /** Old events kept because a log stream has not exported them yet. */
  kept: number;
  steps: number;
}

const LEASE = 'audit-retention';
const silentLogger: ExporterLogger = { debug() {}, info() {}, warn() {} };

/**
 * Deletes audit events older than the retention age, periodically. A pass walks the old events
 * in id order in small steps, each its own transaction that also renews the pass's lease, with
 * a pause between: node:sqlite is synchronous, so one big DELETE would stall every request. With
 * several replicas, the lease lets one of them run a pass per interval.
 */
export class AuditRetention {
  readonly #options: AuditRetentionOptions;
  readonly #holder: string;
  readonly #now: () => Date;
  readonly #logger: ExporterLogger;
  readonly #intervalMs: number;
  readonly #periodic: PeriodicPass<RetentionPass | undefined>;

  constructor(options: AuditRetentionOptions) {
    this.#options = options;
    this.#holder = options.holderId ?? leaseHolderId();
    this.#now = options.now ?? (() => new Date());
    this.#logger = options.logger ?? silentLogger;
    this.#intervalMs = options.intervalMs ?? 3_600_000;
    this.#periodic = new PeriodicPass(() => this.#pass(), { intervalMs: this.#intervalMs, firstDelayMs: options.firstPassDelayMs ?? 10_000 });
  }

  start(): void {
    this.#periodic.start();
  }

  /** Ends the pass in progress after its current step. */
  async stop(): Promise<void> {
    await this.#periodic.stop();
  }

  /** Runs one pass now; undefined when another replica holds the lease (or the store failed). */
  runOnce(): Promise<RetentionPass | undefined> {
    return this.#periodic.runOnce();
  }

  async #pass(): Promise<RetentionPass | undefined> {
    const { store, maxAgeMs } = this.#options;
    const stepSize = this.#options.stepSize ?? 500;
    const beforeId = idFloor(this.#now().getTime() - maxAgeMs);
    const result: RetentionPass = { deleted: 0, kept: 0, steps: 0 };
    let afterId: string | null = null;
    try {
      const { steps, leaseLost } = await runLeasedSteps(
        { store, lease: LEASE, holder: this.#holder, leaseMs: this.#intervalMs, now: this.#now, pauseMs: this.#options.pauseMs ?? 20, stopping: () => this.#periodic.stopping },
        async (tx) => {
          const step = await tx.pruneAuditEvents({ afterId, beforeId, limit: stepSize });
          result.deleted += step.deleted;
          result.kept += step.examined - step.deleted;
          afterId = step.lastId;
          return step.examined < stepSize ? 'done' : 'more';
        },
      );
      result.steps = steps;
      if (leaseLost) return steps === 0 ? undefined : result; // another replica runs it
    } catch (error) {
      this.#logger.warn({ error: describeFailure(error) }, 'audit retention: pass failed; the next one continues');
      return undefined;
    }
    if (result.deleted > 0 || result.kept > 0) {
      this.#logger.info(
        { deleted: result.deleted, keptForLogStreams: result.kept },
        'audit retention: deleted old audit events (events a log stream has not exported yet are kept)',
      );
    }
    return result;
  }
}
