import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BACKENDS } from '../../test/support/store-backends.js';
import type { BackendHarness } from '../../test/support/store-backends.js';
import type { RequestMetricRow, Store } from '../store/types.js';
import { LATENCY_BUCKETS } from './latency-buckets.js';
import { MetricsRetention, REPORT_ID_TTL_MS } from './retention.js';

const DAY_MS = 86_400_000;

describe.each(BACKENDS)('MetricsRetention ($name)', (backend) => {
  let harness: BackendHarness;
  let store: Store;
  const now = Date.parse('2030-06-01T12:00:00.000Z');
  const minuteAgo = (ms: number) => new Date(now - ms - ((now - ms) % 60_000)).toISOString();
  const row = (ageMs: number, target: string): RequestMetricRow => ({
    time: minuteAgo(ageMs),
    resourceSetId: randomUUID(),
    clientWorkloadId: randomUUID(),
    serverWorkloadId: null,
    target,
    outcome: 'allow',
    statusClass: '2xx',
    reason: null,
    requests: 1,
    latencyMsSum: 1,
    latencyBuckets: Array.from({ length: LATENCY_BUCKETS }, (_, i) => (i === 0 ? 1 : 0)),
  });
  const targets = async () => (await harness.rawQuery('SELECT target FROM request_metrics ORDER BY target')).map((each) => each.target);
  const reportAges = async () => (await harness.rawQuery('SELECT received_at FROM request_metric_reports ORDER BY received_at')).map((each) => each.received_at);

  beforeEach(async () => {
    harness = await backend.createHarness();
    store = harness.createStore();
    await store.migrate();
    const rows = [...Array.from({ length: 7 }, (_, i) => row(40 * DAY_MS + i * 60_000, `old-${i}`)), row(DAY_MS, 'recent')];
    await store.transaction((tx) => tx.addRequestMetrics(rows));
    await store.transaction(async (tx) => {
      for (const ageMs of [REPORT_ID_TTL_MS + 60_000, REPORT_ID_TTL_MS + 1, REPORT_ID_TTL_MS - 60_000]) {
        await tx.claimMetricReport({ resourceSetId: randomUUID(), reportId: randomUUID(), clientWorkloadId: randomUUID(), receivedAt: new Date(now - ageMs).toISOString() });
      }
    });
  });
  afterEach(async () => {
    await harness.dispose();
  });

  it('deletes rows past the retention in steps, and report ids past a day, keeping the rest', async () => {
    const retention = new MetricsRetention({ store, maxAgeMs: 30 * DAY_MS, stepSize: 3, pauseMs: 1, now: () => new Date(now) });
    expect(await retention.runOnce()).toEqual({ rows: 7, reports: 2 });
    expect(await targets()).toEqual(['recent']);
    expect(await reportAges()).toEqual([new Date(now - REPORT_ID_TTL_MS + 60_000).toISOString()]);
  });

  it('without a retention keeps every row, and still forgets old report ids', async () => {
    const retention = new MetricsRetention({ store, now: () => new Date(now) });
    expect(await retention.runOnce()).toEqual({ rows: 0, reports: 2 });
    expect(await targets()).toHaveLength(8);
  });

  it('leaves a pass to the replica that holds the lease', async () => {
    await store.transaction((tx) => tx.tryAcquireLease('request-metrics-retention', 'other-replica', 600_000, new Date(now)));
    const retention = new MetricsRetention({ store, maxAgeMs: 30 * DAY_MS, now: () => new Date(now) });
    expect(await retention.runOnce()).toBeUndefined();
    expect(await targets()).toHaveLength(8);
  });
});
