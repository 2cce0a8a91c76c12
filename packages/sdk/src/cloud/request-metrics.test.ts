import { PerformanceObserver, constants } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { TesseraAccessDeniedError, TesseraCloudError, TesseraUnavailableError } from '../errors.js';
import { LATENCY_BOUNDS_MS, RequestMetrics, type MetricsReport, type MetricsSender } from './request-metrics.js';

const api = { serverWorkloadId: 'sw-api', scheme: 'https', host: 'api.example.com', port: 443 };
const wildcard = { serverWorkloadId: 'sw-buckets', scheme: 'https', host: '*.storage.example.com', port: 443 };

/** A sender that records what it was given, failing while `fail` returns an error. */
function recorder(fail?: () => Error | undefined) {
  const reports: MetricsReport[] = [];
  const sender: MetricsSender = {
    sendMetrics: async (report) => {
      const error = fail?.();
      if (error) throw error;
      reports.push(structuredClone(report));
      return { reportIntervalSeconds: 10 };
    },
  };
  return { reports, sender };
}

const requestsIn = (reports: MetricsReport[]) => reports.flatMap((report) => report.series).reduce((sum, series) => sum + series.requests, 0);
const record = (metrics: RequestMetrics, count: number, status = 200, entry = api) => {
  for (let i = 0; i < count; i += 1) metrics.record(entry.serverWorkloadId, entry, 'allow', status, undefined, 3);
};

describe('RequestMetrics', () => {
  it('counts per server workload, outcome, status class and reason, with a latency histogram', async () => {
    const { reports, sender } = recorder();
    const metrics = new RequestMetrics({ sender, flushIntervalMs: 0 });
    for (const ms of [0, 1, 1.0001, 2.5, 7, 10_000, 10_000.5, 9e9, -4]) metrics.record(api.serverWorkloadId, api, 'allow', 204, undefined, ms);
    metrics.record(api.serverWorkloadId, api, 'allow', 503, undefined, 30);
    metrics.record(wildcard.serverWorkloadId, wildcard, 'deny', undefined, 'condition_failed', 2);
    metrics.record(wildcard.serverWorkloadId, wildcard, 'deny', undefined, 'condition_failed', 2);
    metrics.record(undefined, { scheme: 'https', host: 'Other.Example.org', port: 8443 }, 'error', undefined, 'cloud_unavailable', 0);
    metrics.record(api.serverWorkloadId, api, 'error', undefined, 'Not A Code!', 1);
    await metrics.flush();
    expect(reports).toHaveLength(1);
    const [report] = reports;
    expect(report!.reportId).toMatch(/^[0-9a-f-]{36}$/);
    expect(report!.previousReportId).toBeUndefined();
    const ok = report!.series.find((series) => series.statusClass === '2xx')!;
    expect(ok).toMatchObject({ serverWorkloadId: 'sw-api', target: { scheme: 'https', host: 'api.example.com', port: 443 }, outcome: 'allow', requests: 9 });
    // ≤1: 0, 1, -4 (as 0) · ≤2.5: 1.0001, 2.5 · ≤10: 7 · ≤10 s: 10000 · slower: 10000.5, 9e9 (as an hour)
    expect(ok.latencyBuckets).toEqual([3, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2]);
    expect(ok.latencyMsSum).toBeCloseTo(0 + 1 + 1.0001 + 2.5 + 7 + 10_000 + 10_000.5 + 3_600_000, 6);
    expect(report!.series.find((series) => series.statusClass === '5xx')).toMatchObject({ requests: 1, latencyBuckets: [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0] });
    expect(report!.series.find((series) => series.outcome === 'deny')).toEqual({
      serverWorkloadId: 'sw-buckets',
      target: { scheme: 'https', host: '*.storage.example.com', port: 443 },
      outcome: 'deny',
      statusClass: null,
      reason: 'condition_failed',
      requests: 2,
      latencyMsSum: 4,
      latencyBuckets: [0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    });
    expect(report!.series.find((series) => series.reason === 'cloud_unavailable')).toMatchObject({ target: { host: 'other.example.org', port: 8443 }, requests: 1 });
    expect(report!.series.find((series) => series.serverWorkloadId === undefined)).not.toHaveProperty('serverWorkloadId');
    expect(report!.series.find((series) => series.outcome === 'error' && series.serverWorkloadId === 'sw-api')!.reason).toBe('error');
    expect(LATENCY_BOUNDS_MS).toHaveLength(13);
  });

  it('adds up exactly across flushes, a failed send and its retry, and close; every report names the one before', async () => {
    let down = false;
    const { reports, sender } = recorder(() => (down ? new TesseraUnavailableError('down') : undefined));
    const metrics = new RequestMetrics({ sender, flushIntervalMs: 0 });
    record(metrics, 100);
    await metrics.flush();
    record(metrics, 50);
    down = true;
    await metrics.flush(); // kept, with its id
    record(metrics, 25, 404); // counted meanwhile, into the next report
    await metrics.flush();
    expect(metrics.unsent).toBe(75);
    down = false;
    await metrics.flush();
    record(metrics, 7, 500);
    await metrics.close();
    expect(requestsIn(reports)).toBe(182);
    expect(metrics.unsent).toBe(0);
    expect(metrics.dropped).toBe(0);
    expect(reports.map((report) => report.series.reduce((sum, series) => sum + series.requests, 0))).toEqual([100, 50, 25, 7]);
    expect(new Set(reports.map((report) => report.reportId)).size).toBe(4);
    expect(reports.slice(1).map((report) => report.previousReportId)).toEqual(reports.slice(0, 3).map((report) => report.reportId));
  });

  it('sends a report that got no answer again under the same id, never in a new one', async () => {
    const ids: string[] = [];
    let answer: 'lost' | 'ok' = 'lost';
    const metrics = new RequestMetrics({
      flushIntervalMs: 0,
      sender: {
        sendMetrics: async (report) => {
          ids.push(report.reportId);
          // The control plane stored it, but the answer never came back.
          if (answer === 'lost') throw new TesseraUnavailableError('no answer within 5000 ms');
          return {};
        },
      },
    });
    record(metrics, 3);
    await metrics.flush();
    record(metrics, 4);
    await metrics.flush();
    answer = 'ok';
    await metrics.flush();
    expect(ids).toEqual([ids[0], ids[0], ids[0], expect.any(String)]);
    expect(ids[3]).not.toBe(ids[0]);
  });

  it('keeps a report through outages, refusals of the workload, rate limits and server errors; drops one refused as malformed', async () => {
    const failures: Array<Error | undefined> = [
      new TesseraUnavailableError('down'),
      new TesseraAccessDeniedError('no_client_workload', 'refused'),
      new TesseraCloudError('slow down', { status: 429, cloudCode: 'rate_limited' }),
      new TesseraCloudError('oops', { status: 500, cloudCode: 'internal_error' }),
      new TesseraCloudError('unreadable answer'),
      new TesseraCloudError('bad', { status: 400, cloudCode: 'validation_failed' }),
    ];
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, warn: (message: string, fields?: Record<string, unknown>) => warnings.push(`${message} ${JSON.stringify(fields)}`) };
    const { reports, sender } = recorder(() => failures.shift());
    const metrics = new RequestMetrics({ sender, flushIntervalMs: 0, logger });
    record(metrics, 10);
    for (let i = 0; i < 5; i += 1) {
      await metrics.flush();
      expect(metrics.unsent, `after failure ${i}`).toBe(10);
    }
    await metrics.flush(); // 400: the report can never be taken
    expect(metrics.unsent).toBe(0);
    expect(metrics.dropped).toBe(10);
    expect(warnings).toEqual(['tessera: request metrics not delivered {"reason":"cloud_error","dropped":10}']);
    record(metrics, 2);
    await metrics.flush();
    expect(requestsIn(reports)).toBe(2);
  });

  it('sends the counts of a server workload that left the directory without naming it', async () => {
    const { reports, sender } = recorder(() =>
      reports.length === 0 && !sentOnce++ ? new TesseraCloudError('unknown', { status: 400, cloudCode: 'unknown_server_workload' }) : undefined,
    );
    let sentOnce = 0;
    const metrics = new RequestMetrics({ sender, flushIntervalMs: 0 });
    record(metrics, 4);
    metrics.record(undefined, { scheme: 'http', host: 'x.example.org', port: 80 }, 'error', undefined, 'cloud_unavailable', 0);
    await metrics.flush();
    expect(reports).toHaveLength(1);
    expect(reports[0]!.series.every((series) => series.serverWorkloadId === undefined)).toBe(true);
    expect(requestsIn(reports)).toBe(5);
    expect(metrics.dropped).toBe(0);
  });

  it('is bounded: past maxSeries keys, requests of a new key are dropped and counted; idle keys make room', async () => {
    const { reports, sender } = recorder();
    const metrics = new RequestMetrics({ sender, flushIntervalMs: 0, maxSeries: 3 });
    for (let i = 0; i < 5; i += 1) metrics.record(undefined, { scheme: 'https', host: `h${i}.example.org`, port: 443 }, 'error', undefined, 'cloud_unavailable', 1);
    record(metrics, 2);
    expect(metrics.dropped).toBe(4);
    await metrics.flush();
    await metrics.flush(); // the keys were idle a whole interval: they go
    record(metrics, 2);
    await metrics.flush();
    expect(requestsIn(reports)).toBe(5);
    expect(reports[1]!.series).toHaveLength(1);
  });

  it('counts nothing after close, and says so', async () => {
    const { reports, sender } = recorder();
    const metrics = new RequestMetrics({ sender, flushIntervalMs: 0 });
    record(metrics, 1);
    await metrics.close();
    record(metrics, 1);
    expect(metrics.dropped).toBe(1);
    expect(requestsIn(reports)).toBe(1);
  });

  it('reports on its timer, no sooner than the control plane asks, and not at all with an interval of 0', async () => {
    const { reports, sender } = recorder();
    const timed = new RequestMetrics({ sender, flushIntervalMs: 30 });
    record(timed, 1);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(reports.length).toBe(1);
    timed.reportIntervalSeconds = 60; // longer than the test: nothing more is sent on the timer
    await new Promise((resolve) => setTimeout(resolve, 50)); // the timer armed before fires once
    record(timed, 1);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(reports.length).toBeLessThanOrEqual(2);
    const sentBefore = reports.length;
    const manual = new RequestMetrics({ sender, flushIntervalMs: 0 });
    record(manual, 1);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(reports.length).toBe(sentBefore);
    await Promise.all([timed.close(), manual.close()]);
    expect(requestsIn(reports)).toBe(3);
  });

  it('allocates nothing per request once its counters exist: no young-generation collection over 3 million requests', async () => {
    const metrics = new RequestMetrics({ sender: recorder().sender, flushIntervalMs: 0 });
    const latencies = Float64Array.from({ length: 64 }, (_, i) => i * 1.7);
    const run = (count: number) => {
      for (let i = 0; i < count; i += 1) metrics.record(api.serverWorkloadId, api, 'allow', (i & 1) === 0 ? 200 : 503, undefined, latencies[i & 63]!);
    };
    run(200_000); // counters created, code optimised
    await new Promise((resolve) => setTimeout(resolve, 20));
    let minor = 0;
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) if ((entry as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) minor += 1;
    });
    observer.observe({ entryTypes: ['gc'] });
    run(3_000_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    observer.disconnect();
    // 16 bytes a request would be 48 MB: several collections of the young generation.
    expect(minor).toBeLessThanOrEqual(1);
    expect(metrics.unsent).toBe(3_200_000);
  });
});
