import { LATENCY_COLUMNS } from '../metrics/latency-buckets.js';
import type { SqlRow, SqlValue } from './executor.js';
import type { BoundSql } from './sql.js';
import type { ListRequestMetricsQuery, RequestMetricRow, RequestOutcome } from './types.js';

/**
 * The SQL of request metrics, for both backends. Key columns hold '' for "none" (see migration
 * 3); rows read back turn it into null again.
 */

const KEY_COLUMNS = ['resource_set_id', 'client_workload_id', 'server_workload_id', 'target', 'outcome', 'status_class', 'reason'] as const;
const COUNT_COLUMNS = ['requests', 'latency_ms_sum', ...LATENCY_COLUMNS] as const;
const ALL_COLUMNS = ['minute', ...KEY_COLUMNS, ...COUNT_COLUMNS];
const ROW_PLACEHOLDERS = `(${ALL_COLUMNS.map(() => '?').join(', ')})`;

/** Rows per INSERT: one round trip for most reports, and few statement texts to prepare. */
export const ROWS_PER_INSERT = 50;

export const METRICS_SQL = {
  claimReport:
    'INSERT INTO request_metric_reports (resource_set_id, report_id, client_workload_id, received_at) VALUES (?, ?, ?, ?) ' +
    'ON CONFLICT (resource_set_id, report_id) DO NOTHING',
  forgetReport: 'DELETE FROM request_metric_reports WHERE resource_set_id = ? AND report_id = ? AND client_workload_id = ?',
  // One bounded step each (cutoff, limit): a row-value IN, as neither backend has DELETE ... LIMIT.
  pruneMetrics:
    `DELETE FROM request_metrics WHERE (minute, ${KEY_COLUMNS.join(', ')}) IN ` +
    `(SELECT minute, ${KEY_COLUMNS.join(', ')} FROM request_metrics WHERE minute < ? ORDER BY minute LIMIT ?)`,
  pruneReports:
    'DELETE FROM request_metric_reports WHERE (resource_set_id, report_id) IN ' +
    '(SELECT resource_set_id, report_id FROM request_metric_reports WHERE received_at < ? ORDER BY received_at LIMIT ?)',
} as const;

/** One multi-row upsert that adds every count to the row of the same key. */
export function upsertMetrics(rows: readonly RequestMetricRow[]): BoundSql {
  const added = COUNT_COLUMNS.map((column) => `${column} = request_metrics.${column} + excluded.${column}`).join(', ');
  return {
    sql:
      `INSERT INTO request_metrics (${ALL_COLUMNS.join(', ')}) VALUES ${rows.map(() => ROW_PLACEHOLDERS).join(', ')} ` +
      `ON CONFLICT (minute, ${KEY_COLUMNS.join(', ')}) DO UPDATE SET ${added}`,
    params: rows.flatMap(metricValues),
  };
}

function metricValues(row: RequestMetricRow): SqlValue[] {
  return [
    row.time,
    row.resourceSetId,
    row.clientWorkloadId,
    row.serverWorkloadId ?? '',
    row.target,
    row.outcome,
    row.statusClass ?? '',
    row.reason ?? '',
    row.requests,
    row.latencyMsSum,
    ...row.latencyBuckets,
  ];
}

/**
 * A page of rows, newest first and then by key, all descending: per minute it is a backward scan
 * of the primary key; per hour the rows are added up first. `after` continues a listing.
 */
export function listRequestMetrics(query: ListRequestMetricsQuery): BoundSql {
  const conditions: string[] = [];
  const params: SqlValue[] = [];
  const where = (condition: string, ...values: SqlValue[]): void => {
    conditions.push(condition);
    params.push(...values);
  };
  if (query.resourceSetIds !== undefined) where(`resource_set_id IN (${query.resourceSetIds.map(() => '?').join(', ')})`, ...query.resourceSetIds);
  if (query.since !== undefined) where('minute >= ?', query.since);
  if (query.until !== undefined) where('minute < ?', query.until);
  if (query.clientWorkloadId !== undefined) where('client_workload_id = ?', query.clientWorkloadId);
  if (query.serverWorkloadId !== undefined) where('server_workload_id = ?', query.serverWorkloadId);
  if (query.outcome !== undefined) where('outcome = ?', query.outcome);
  const filter = (list: string[]) => (list.length > 0 ? `WHERE ${list.join(' AND ')} ` : '');
  const order = `ORDER BY period DESC, ${KEY_COLUMNS.map((column) => `${column} DESC`).join(', ')} LIMIT ?`;
  // Keyset pagination: one row-value comparison, which both backends serve from an index.
  const before = (period: string) => `(${period}, ${KEY_COLUMNS.join(', ')}) < (${['?', ...KEY_COLUMNS.map(() => '?')].join(', ')})`;

  if (query.groupBy === 'minute') {
    if (query.after !== undefined) where(before('minute'), ...query.after);
    return {
      sql: `SELECT minute AS period, ${KEY_COLUMNS.join(', ')}, ${COUNT_COLUMNS.join(', ')} FROM request_metrics ${filter(conditions)}${order}`,
      params: [...params, query.limit],
    };
  }
  const hour = "substr(minute, 1, 13) || ':00:00.000Z'";
  const outer: string[] = [];
  if (query.after !== undefined) {
    outer.push(before('period'));
    params.push(...query.after);
  }
  const sums = COUNT_COLUMNS.map((column) => `SUM(${column}) AS ${column}`).join(', ');
  const groups = ['period', ...KEY_COLUMNS].join(', ');
  return {
    sql:
      `SELECT ${groups}, ${sums} FROM (SELECT ${hour} AS period, ${KEY_COLUMNS.join(', ')}, ${COUNT_COLUMNS.join(', ')} ` +
      `FROM request_metrics ${filter(conditions)}) m ${filter(outer)}GROUP BY ${groups} ${order}`,
    params: [...params, query.limit],
  };
}

/** A row read back; PostgreSQL returns BIGINT and SUM() as strings, hence Number(). */
export function requestMetricFromRow(row: SqlRow): RequestMetricRow {
  const text = (column: string): string => {
    const value = row[column];
    if (typeof value !== 'string') throw new TypeError(`column ${column}: expected text, got ${typeof value}`);
    return value;
  };
  const optional = (column: string): string | null => (text(column) === '' ? null : text(column));
  return {
    time: text('period'),
    resourceSetId: text('resource_set_id'),
    clientWorkloadId: text('client_workload_id'),
    serverWorkloadId: optional('server_workload_id'),
    target: text('target'),
    outcome: text('outcome') as RequestOutcome,
    statusClass: optional('status_class'),
    reason: optional('reason'),
    requests: Number(row.requests),
    latencyMsSum: Number(row.latency_ms_sum),
    latencyBuckets: LATENCY_COLUMNS.map((column) => Number(row[column])),
  };
}

/** Where a page ended: the key of its last row, as stored ('' for none). */
export function positionOf(row: RequestMetricRow): [string, string, string, string, string, string, string, string] {
  return [row.time, row.resourceSetId, row.clientWorkloadId, row.serverWorkloadId ?? '', row.target, row.outcome, row.statusClass ?? '', row.reason ?? ''];
}
