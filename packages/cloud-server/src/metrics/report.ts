import type { EdgeSession } from '../edge/edge-token.js';
import { EdgeError } from '../edge/errors.js';
import type { IndexedServer, PolicyIndex } from '../edge/policy-index.js';
import type { RequestMetricRow, RequestOutcome } from '../store/types.js';
import { LATENCY_BUCKETS, latencyBucket } from './latency-buckets.js';

/**
 * What `POST /edge/v1/metrics` carries (validated by its schema), turned into rows of the
 * session's resource set and client workload, in the minute the control plane received it.
 */

export interface ReportTarget {
  scheme: string;
  host: string;
  port: number;
}

export interface ReportSeries {
  serverWorkloadId?: string;
  target: ReportTarget;
  outcome: RequestOutcome;
  statusClass: string | null;
  reason?: string;
  requests: number;
  latencyMsSum: number;
  latencyBuckets: number[];
}

export interface MetricsReport {
  reportId: string;
  previousReportId?: string;
  series: ReportSeries[];
}

/** An event of the deprecated `POST /edge/v1/events`: one request, as older SDKs report it. */
export interface LegacyEvent {
  time: string;
  target: ReportTarget & { path?: string };
  outcome: RequestOutcome;
  statusClass: string | null;
  latencyMs: number;
  reason?: string;
}

/** The longest a request may have taken, as the events route always accepted. */
const MAX_LATENCY_MS = 3_600_000;

/** The minute `now` falls in, as stored. */
export function minuteOf(now: Date): string {
  return new Date(now.getTime() - (now.getTime() % 60_000)).toISOString();
}

/** `https://api.example.com:443`; an IPv6 address in brackets. */
export function originOf(target: ReportTarget): string {
  const host = target.host.toLowerCase();
  return `${target.scheme}://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${target.port}`;
}

/**
 * The report's rows. Refused as a whole, nothing stored: histograms that do not add up to their
 * count (`invalid_metrics`), and a server workload that is not an enabled one of the session's
 * resource set (`unknown_server_workload`, the same answer whether it exists elsewhere or not).
 */
export function reportRows(report: MetricsReport, session: EdgeSession, index: PolicyIndex, minute: string): RequestMetricRow[] {
  return merge(
    report.series.map((series, position) => {
      const buckets = series.latencyBuckets;
      if (buckets.reduce((sum, each) => sum + each, 0) !== series.requests) {
        throw new EdgeError('invalid_metrics', `series ${position}: latencyBuckets add up to ${buckets.reduce((s, e) => s + e, 0)}, not to requests (${series.requests})`);
      }
      if (series.latencyMsSum > series.requests * MAX_LATENCY_MS) {
        throw new EdgeError('invalid_metrics', `series ${position}: latencyMsSum is more than ${MAX_LATENCY_MS} ms per request`);
      }
      const server = series.serverWorkloadId === undefined ? undefined : index.server(series.serverWorkloadId);
      if (series.serverWorkloadId !== undefined && server?.resourceSetId !== session.resourceSetId) {
        throw new EdgeError('unknown_server_workload', `series ${position}: serverWorkloadId is not an enabled server workload of this workload's resource set; report the series without it`);
      }
      return rowOf(session, minute, server, series);
    }),
  );
}

/**
 * Events of older SDKs, one request each, as rows: the server workload is the one the target
 * (path included) resolves to now, as the events route always resolved it.
 */
export function eventRows(events: readonly LegacyEvent[], session: EdgeSession, index: PolicyIndex, minute: string): RequestMetricRow[] {
  return merge(
    events.map((event) => {
      const server = index.resolveServer(session.resourceSetId, { ...event.target, host: event.target.host.toLowerCase(), path: event.target.path ?? '/' });
      const latencyBuckets = new Array<number>(LATENCY_BUCKETS).fill(0);
      latencyBuckets[latencyBucket(event.latencyMs)] = 1;
      const { target, outcome, statusClass, reason } = event;
      return rowOf(session, minute, server, { target, outcome, statusClass, ...(reason !== undefined ? { reason } : {}), requests: 1, latencyMsSum: event.latencyMs, latencyBuckets });
    }),
  );
}

/** A series as a row of the session's client workload; with a server workload, its own target as configured. */
function rowOf(session: EdgeSession, minute: string, server: IndexedServer | undefined, series: ReportSeries): RequestMetricRow {
  return {
    time: minute,
    resourceSetId: session.resourceSetId,
    clientWorkloadId: session.clientWorkloadId,
    serverWorkloadId: server?.id ?? null,
    target: originOf(server ?? series.target),
    outcome: series.outcome,
    statusClass: series.statusClass,
    reason: series.reason ?? null,
    requests: series.requests,
    latencyMsSum: series.latencyMsSum,
    latencyBuckets: [...series.latencyBuckets],
  };
}

/** The identity of a row: everything but its counts. */
export function keyOf(row: RequestMetricRow): string {
  return [row.time, row.resourceSetId, row.clientWorkloadId, row.serverWorkloadId ?? '', row.target, row.outcome, row.statusClass ?? '', row.reason ?? ''].join('\n');
}

/** Rows of the same key added into one (an upsert may not touch a row twice), sorted by key. */
export function merge(rows: readonly RequestMetricRow[]): RequestMetricRow[] {
  const byKey = new Map<string, RequestMetricRow>();
  for (const row of rows) {
    const key = keyOf(row);
    const into = byKey.get(key);
    if (into === undefined) {
      byKey.set(key, { ...row, latencyBuckets: [...row.latencyBuckets] });
      continue;
    }
    into.requests += row.requests;
    into.latencyMsSum += row.latencyMsSum;
    row.latencyBuckets.forEach((count, bucket) => (into.latencyBuckets[bucket]! += count));
  }
  // One order for every writer, so that concurrent transactions lock rows in the same order.
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row);
}
