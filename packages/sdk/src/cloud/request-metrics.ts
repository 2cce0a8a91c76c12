import { randomUUID } from 'node:crypto';
import { TesseraCloudError } from '../errors.js';
import { silentLogger, type CloudLogger } from './logger.js';

/**
 * Upper bounds (ms) of the latency histogram, 1-2.5-5 steps from 1 ms to 10 s; a last bucket
 * takes everything slower. The control plane stores exactly these
 * (packages/cloud-server/src/metrics/latency-buckets.ts).
 */
export const LATENCY_BOUNDS_MS: readonly number[] = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000];
const BUCKETS = LATENCY_BOUNDS_MS.length + 1;
/** The longest latency the edge API takes; a slower request counts as this. */
const MAX_LATENCY_MS = 3_600_000;
const STATUS_CLASSES = [null, '1xx', '2xx', '3xx', '4xx', '5xx'] as const;
const REASON = /^[a-z_]{1,64}$/;
/** Lost counts are reported at most this often, with the running total. */
const DROP_WARNING_INTERVAL_MS = 60_000;

export type RequestOutcome = 'allow' | 'deny' | 'error';
export type StatusClass = (typeof STATUS_CLASSES)[number];

export interface MetricsTarget {
  scheme: string;
  host: string;
  port: number;
}

/** One key of a report, as `POST /edge/v1/metrics` takes it. */
export interface MetricsSeries {
  serverWorkloadId?: string;
  target: { scheme: 'http' | 'https'; host: string; port: number };
  outcome: RequestOutcome;
  statusClass: StatusClass;
  reason?: string;
  requests: number;
  latencyMsSum: number;
  latencyBuckets: number[];
}

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

/** Requests of one key since the last report. Reset, never reallocated, while in use. */
class Counter {
  requests = 0;
  latencyMsSum = 0;
  readonly buckets = new Float64Array(BUCKETS);

  constructor(
    readonly outcome: RequestOutcome,
    readonly statusClass: StatusClass,
    readonly reason: string | undefined,
  ) {}

  add(latencyMs: number): void {
    const ms = latencyMs > 0 ? (latencyMs < MAX_LATENCY_MS ? latencyMs : MAX_LATENCY_MS) : 0;
    let bucket = 0;
    while (bucket < BUCKETS - 1 && ms > LATENCY_BOUNDS_MS[bucket]!) bucket += 1;
    this.requests += 1;
    this.latencyMsSum += ms;
    this.buckets[bucket]! += 1;
  }
}

/** The counters of one server workload, or of one target origin for requests that matched none. */
class TargetCounters {
  /** `allow` by status class (0: no class). */
  readonly allowed: Array<Counter | undefined> = new Array(STATUS_CLASSES.length).fill(undefined);
  readonly denied = new Map<string, Counter>();
  readonly failed = new Map<string, Counter>();

  constructor(
    readonly serverWorkloadId: string | undefined,
    readonly target: MetricsSeries['target'],
  ) {}

  *counters(): Iterable<Counter> {
    for (const counter of this.allowed) if (counter !== undefined) yield counter;
    yield* this.denied.values();
    yield* this.failed.values();
  }
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
  readonly #maxSeries: number;
  readonly #logger: CloudLogger;
  readonly #intervalMs: number;
  /** The least interval the control plane asked for. */
  #floorMs = 0;
  readonly #targets = new Map<string, TargetCounters>();
  #series = 0;
  #pending: { report: MetricsReport; requests: number } | undefined;
  #lastDelivered: string | undefined;
  #dropped = 0;
  #flushing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #lastDropWarning = -Infinity;

  constructor(options: RequestMetricsOptions) {
    this.#sender = options.sender;
    this.#maxSeries = Math.max(1, options.maxSeries ?? 500);
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
    let requests = this.#pending?.requests ?? 0;
    for (const target of this.#targets.values()) for (const counter of target.counters()) requests += counter.requests;
    return requests;
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
   * that entry), or, without one, to the request's own origin.
   */
  record(serverWorkloadId: string | undefined, target: MetricsTarget, outcome: RequestOutcome, statusCode: number | undefined, reason: string | undefined, latencyMs: number): void {
    try {
      if (this.#closed) {
        this.#dropped += 1;
        return;
      }
      const key = serverWorkloadId ?? `${target.scheme}://${target.host}:${target.port}`;
      const counters = this.#targets.get(key) ?? this.#newTarget(key, serverWorkloadId, target);
      const counter = counters === undefined ? undefined : this.#counter(counters, outcome, statusCode, reason);
      if (counter === undefined) this.#dropped += 1;
      else counter.add(latencyMs);
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

  #newTarget(key: string, serverWorkloadId: string | undefined, target: MetricsTarget): TargetCounters | undefined {
    if (this.#series >= this.#maxSeries) return undefined;
    const scheme = target.scheme === 'https' ? 'https' : 'http';
    const counters = new TargetCounters(serverWorkloadId, { scheme, host: target.host.toLowerCase(), port: target.port });
    this.#targets.set(key, counters);
    return counters;
  }

  #counter(counters: TargetCounters, outcome: RequestOutcome, statusCode: number | undefined, reason: string | undefined): Counter | undefined {
    if (outcome === 'allow') {
      const index = statusCode !== undefined && statusCode >= 100 && statusCode < 600 ? Math.floor(statusCode / 100) : 0;
      return counters.allowed[index] ?? (counters.allowed[index] = this.#newCounter(outcome, STATUS_CLASSES[index]!, undefined));
    }
    const byReason = outcome === 'deny' ? counters.denied : counters.failed;
    const code = reason ?? 'error';
    let counter = byReason.get(code);
    if (counter === undefined) {
      counter = this.#newCounter(outcome, null, REASON.test(code) ? code : 'error');
      if (counter !== undefined) byReason.set(code, counter);
    }
    return counter;
  }

  #newCounter(outcome: RequestOutcome, statusClass: StatusClass, reason: string | undefined): Counter | undefined {
    if (this.#series >= this.#maxSeries) return undefined;
    this.#series += 1;
    return new Counter(outcome, statusClass, reason);
  }

  /** The report still owed, then one of what was counted until now. */
  async #send(): Promise<void> {
    if (this.#pending !== undefined && !(await this.#deliver(this.#pending))) return;
    const series = this.#takeSeries();
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

  /** Every counter with requests, as series, reset; counters idle for a whole interval go. */
  #takeSeries(): MetricsSeries[] {
    const series: MetricsSeries[] = [];
    for (const [key, target] of this.#targets) {
      let used = 0;
      for (const counter of target.counters()) {
        if (counter.requests === 0) {
          this.#forget(target, counter);
          continue;
        }
        used += 1;
        series.push({
          ...(target.serverWorkloadId !== undefined ? { serverWorkloadId: target.serverWorkloadId } : {}),
          target: target.target,
          outcome: counter.outcome,
          statusClass: counter.statusClass,
          ...(counter.reason !== undefined ? { reason: counter.reason } : {}),
          requests: counter.requests,
          latencyMsSum: counter.latencyMsSum,
          latencyBuckets: Array.from(counter.buckets),
        });
        counter.requests = 0;
        counter.latencyMsSum = 0;
        counter.buckets.fill(0);
      }
      if (used === 0) this.#targets.delete(key);
    }
    return series;
  }

  #forget(target: TargetCounters, counter: Counter): void {
    this.#series -= 1;
    const index = target.allowed.indexOf(counter);
    if (index >= 0) target.allowed[index] = undefined;
    for (const byReason of [target.denied, target.failed]) {
      for (const [code, each] of byReason) if (each === counter) byReason.delete(code);
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
