import type { EdgeSession } from '../edge/edge-token.js';
import { EdgeError } from '../edge/errors.js';
import type { PolicyIndex } from '../edge/policy-index.js';
import type { Store } from '../store/types.js';
import { eventRows, minuteOf, reportRows, type LegacyEvent, type MetricsReport } from './report.js';
import { SeriesBudget } from './series-budget.js';
import { SessionRate } from './session-rate.js';
import { MetricsWriter } from './writer.js';

export interface RequestMetricsOptions {
  /** How often SDKs should report at most, told to them at attestation and in every answer. */
  reportIntervalSeconds?: number;
  /** Distinct keys a client workload may add per minute before the rest is folded (default 1,000). */
  maxKeysPerMinute?: number;
  rate?: SessionRate;
  now?: () => Date;
}

/**
 * The request metrics the edge API takes in: a report (or an older SDK's events) from one
 * authenticated session becomes rows of that session's resource set and client workload, in the
 * minute it arrived, within the session's rate and the client workload's key budget.
 */
export class RequestMetricsIngest {
  readonly reportIntervalSeconds: number;
  readonly #writer: MetricsWriter;
  readonly #budget: SeriesBudget;
  readonly #rate: SessionRate;
  readonly #now: () => Date;

  constructor(store: Pick<Store, 'transaction'>, options: RequestMetricsOptions = {}) {
    this.reportIntervalSeconds = options.reportIntervalSeconds ?? 10;
    this.#writer = new MetricsWriter(store);
    this.#budget = new SeriesBudget(options.maxKeysPerMinute);
    this.#rate = options.rate ?? new SessionRate();
    this.#now = options.now ?? (() => new Date());
  }

  /** Stores a report; `duplicate` when it had been counted already (a retry). */
  async report(session: EdgeSession, index: PolicyIndex, report: MetricsReport): Promise<{ requests: number; duplicate: boolean }> {
    this.#limit(session);
    const now = this.#now();
    const minute = minuteOf(now);
    const rows = this.#budget.fit(session.clientWorkloadId, minute, reportRows(report, session, index, minute));
    const duplicate = await this.#writer.write({
      claim: { resourceSetId: session.resourceSetId, reportId: report.reportId, clientWorkloadId: session.clientWorkloadId, receivedAt: now.toISOString() },
      ...(report.previousReportId !== undefined ? { previousReportId: report.previousReportId } : {}),
      rows,
    });
    return { requests: duplicate ? 0 : rows.reduce((sum, row) => sum + row.requests, 0), duplicate };
  }

  /**
   * Stores the events of an older SDK (deprecated route): without a report id, a retry counts
   * twice. Not rate-limited: those SDKs send a batch whenever 500 events are queued, and one
   * refused would be lost (they give up after retrying for 10 s).
   */
  async events(session: EdgeSession, index: PolicyIndex, events: readonly LegacyEvent[]): Promise<void> {
    const minute = minuteOf(this.#now());
    await this.#writer.write({ rows: this.#budget.fit(session.clientWorkloadId, minute, eventRows(events, session, index, minute)) });
  }

  /** Waits until every accepted report is written (at shutdown). */
  flush(): Promise<void> {
    return this.#writer.flush();
  }

  #limit(session: EdgeSession): void {
    const taken = this.#rate.take(session.jkt);
    if (!taken.allowed) {
      throw new EdgeError('rate_limited', 'This process reports more often than the control plane takes; keep the report and send it later', undefined, {
        retryAfterSeconds: taken.retryAfterSeconds,
      });
    }
  }
}
