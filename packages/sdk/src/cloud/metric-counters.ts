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
 * Requests counted per key — server workload (or target origin), outcome, status class and
 * reason — in counters that stay allocated while they are used: counting a request of a known
 * key is a map lookup and a few additions, with no allocation. At most `maxSeries` keys.
 */
export class MetricCounters {
  readonly #maxSeries: number;
  readonly #targets = new Map<string, TargetCounters>();
  #series = 0;

  constructor(maxSeries: number) {
    this.#maxSeries = maxSeries;
  }

  /** Requests counted since the last `take()`. */
  get requests(): number {
    let requests = 0;
    for (const target of this.#targets.values()) for (const counter of target.counters()) requests += counter.requests;
    return requests;
  }

  /**
   * Counts one request: to the server workload `serverWorkloadId` of the directory (`target` is
   * that entry), or, without one, to the request's own origin. False when its key is new and
   * there is no room for it.
   */
  add(serverWorkloadId: string | undefined, target: MetricsTarget, outcome: RequestOutcome, statusCode: number | undefined, reason: string | undefined, latencyMs: number): boolean {
    const key = serverWorkloadId ?? `${target.scheme}://${target.host}:${target.port}`;
    const counters = this.#targets.get(key) ?? this.#newTarget(key, serverWorkloadId, target);
    const counter = counters === undefined ? undefined : this.#counter(counters, outcome, statusCode, reason);
    counter?.add(latencyMs);
    return counter !== undefined;
  }

  /** Every counter with requests, as series, reset to zero; counters idle since the last take go. */
  take(): MetricsSeries[] {
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
      // The edge API takes error codes only: anything else is reported as `error`.
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

  #forget(target: TargetCounters, counter: Counter): void {
    this.#series -= 1;
    const index = target.allowed.indexOf(counter);
    if (index >= 0) target.allowed[index] = undefined;
    for (const byReason of [target.denied, target.failed]) {
      for (const [code, each] of byReason) if (each === counter) byReason.delete(code);
    }
  }
}
