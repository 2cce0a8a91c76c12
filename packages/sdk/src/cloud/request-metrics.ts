import { randomUUID } from 'node:crypto';
import { TesseraCloudError } from '../errors.js';
import { silentLogger, type CloudLogger } from './logger.js';
import { MetricCounters, type MetricsSeries, type MetricsTarget, type RequestOutcome } from './metric-counters.js';

export { LATENCY_BOUNDS_MS, type MetricsSeries, type MetricsTarget, type RequestOutcome, type StatusClass } from './metric-counters.js';

/** Lost counts are reported at most this often, with the running total. */
const DROP_WARNING_INTERVAL_MS = 60_000;

export interface MetricsReport {
  /** Random per report and the same in every retry of it: the control plane counts it once. */
  reportId: string;
  /** The last report the control plane took: it need not remember that one any longer. */
  previousReportId?: string;
  series: MetricsSeries[];
}

/** Whatever delivers a report; `EdgeClient.sendMetrics` in the SDK. */
export interface MetricsSender {
  sendMetrics(report: MetricsReport): Promise<{ reportIntervalSeconds?: number }>;
}

export interface RequestMetricsOptions {
  sender: MetricsSender;
  /** Time between reports; 0 sends only on flush() and close() (default 10 s). */
  flushIntervalMs?: number;
  /** Distinct keys counted at once (default 500, the edge API's limit per report). */
  maxSeries?: number;
  logger?: CloudLogger;
}

/**
 * Request metrics: what happened to the managed requests, counted in place and reported once per
 * interval. `record()` runs on the request path: a map lookup and a few additions into counters
 * that exist already (no allocation, no clock read), and it never throws. Past `maxSeries` keys,
 * requests of a new key are dropped and counted.
 *
 * A report keeps its id until the control plane has taken it: a failed send is retried with the
 * same report (the control plane counts an id once), while new requests go on being counted
 * into the next one, so nothing is counted twice or lost while the control plane is away.
 */
export class RequestMetrics {
  readonly #sender: MetricsSender;
  readonly #counters: MetricCounters;
  readonly #logger: CloudLogger;
  readonly #intervalMs: number;
  /** The least interval the control plane asked for. */
  #floorMs = 0;
  #pending: { report: MetricsReport; requests: number } | undefined;
  #lastDelivered: string | undefined;
  #dropped = 0;
  #flushing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #lastDropWarning = -Infinity;

  constructor(options: RequestMetricsOptions) {
    this.#sender = options.sender;
    this.#counters = new MetricCounters(Math.max(1, options.maxSeries ?? 500));
    this.#logger = options.logger ?? silentLogger;
    this.#intervalMs = options.flushIntervalMs ?? 10_000;
    this.#schedule();
  }

  /** Requests not reported: past the key limit, refused by the control plane, or after close. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Requests counted and not yet taken by the control plane. */
  get unsent(): number {
    return (this.#pending?.requests ?? 0) + this.#counters.requests;
  }

  /**
   * The control plane's interval (its answers carry it): reports go no more often than that,
   * unless flushed. Never shortens the interval configured here.
   */
  set reportIntervalSeconds(seconds: number | undefined) {
    if (seconds !== undefined && Number.isFinite(seconds) && seconds > 0) this.#floorMs = Math.min(seconds, 86_400) * 1000;
  }

  /**
   * Counts one request: to the server workload `serverWorkloadId` of the directory (`target` is
   * that entry), or, without one, to the request's own origin. Never throws.
   */
  record(serverWorkloadId: string | undefined, target: MetricsTarget, outcome: RequestOutcome, statusCode: number | undefined, reason: string | undefined, latencyMs: number): void {
    try {
      if (this.#closed || !this.#counters.add(serverWorkloadId, target, outcome, statusCode, reason, latencyMs)) this.#dropped += 1;
    } catch {
      this.#dropped += 1; // the request path must not see it
    }
  }

  /** Sends what was counted (and a report still owed); one flush at a time. Never rejects. */
  async flush(): Promise<void> {
    if (this.#flushing !== undefined) await this.#flushing;
    return (this.#flushing ??= this.#send().finally(() => {
      this.#flushing = undefined;
    }));
  }

  /** Stops the timer and sends what is left; requests that finish later are dropped. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.flush();
  }

  #schedule(): void {
    const interval = this.#intervalMs === 0 ? 0 : Math.max(this.#intervalMs, this.#floorMs);
    if (interval === 0 || this.#closed) return;
    // ±10%: processes started together (a deploy) do not all report in the same second.
    this.#timer = setTimeout(() => void this.flush().finally(() => this.#schedule()), interval * (0.9 + Math.random() * 0.2));
    this.#timer.unref(); // never keeps the process alive
  }

  /** The report still owed, then one of what was counted until now. */
  async #send(): Promise<void> {
    if (this.#pending !== undefined && !(await this.#deliver(this.#pending))) return;
    const series = this.#counters.take();
    if (series.length === 0) return;
    const report: MetricsReport = { reportId: randomUUID(), ...(this.#lastDelivered ? { previousReportId: this.#lastDelivered } : {}), series };
    await this.#deliver((this.#pending = { report, requests: series.reduce((sum, each) => sum + each.requests, 0) }));
  }

  /**
   * Sends a report; false when it stays owed (no answer, an outage, a retry later). A report the
   * control plane refuses as malformed is dropped and counted: sending it again cannot help.
   */
  async #deliver(pending: { report: MetricsReport; requests: number }): Promise<boolean> {
    try {
      const answer = await this.#sender.sendMetrics(pending.report);
      this.reportIntervalSeconds = answer.reportIntervalSeconds;
      this.#lastDelivered = pending.report.reportId;
      this.#pending = undefined;
      return true;
    } catch (error) {
      const reason = (error as { code?: unknown }).code ?? 'error';
      if (error instanceof TesseraCloudError && error.cloudCode === 'unknown_server_workload' && pending.report.series.some((each) => each.serverWorkloadId)) {
        // A server workload left the directory meanwhile (deleted, disabled): its counts go without it.
        pending.report.series = pending.report.series.map(({ serverWorkloadId: _, ...series }) => series);
        return this.#deliver(pending);
      }
      // Only a refusal of the report itself is final; anything else may have been stored, or
      // not: the same report id is safe to send again, and the control plane counts it once.
      if (!(error instanceof TesseraCloudError) || error.status === undefined || error.status === 429 || error.status >= 500) {
        this.#logger.debug('tessera: request metrics kept for the next flush', { requests: pending.requests, reason });
        return false;
      }
      this.#dropped += pending.requests;
      this.#pending = undefined;
      this.#warnDropped(reason);
      return true;
    }
  }

  /** Lost counts are worth a warning, but not one per flush. */
  #warnDropped(reason: unknown): void {
    const now = Date.now();
    if (now - this.#lastDropWarning < DROP_WARNING_INTERVAL_MS) return;
    this.#lastDropWarning = now;
    this.#logger.warn('tessera: request metrics not delivered', { reason, dropped: this.#dropped });
  }
}
