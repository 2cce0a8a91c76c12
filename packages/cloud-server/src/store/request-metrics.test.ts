import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LATENCY_BUCKETS } from '../metrics/latency-buckets.js';
import { positionOf } from './metrics-sql.js';
import { BACKENDS } from '../../test/support/store-backends.js';
import type { BackendHarness } from '../../test/support/store-backends.js';
import type { ListRequestMetricsQuery, RequestMetricRow, Store } from './types.js';

/** Request metrics in the store: the same suite on both backends. */

const setA = randomUUID();
const setB = randomUUID();
const client = randomUUID();
const otherClient = randomUUID();
const server = randomUUID();

function row(fields: Partial<RequestMetricRow> & { time: string }, bucket = 3): RequestMetricRow {
  const requests = fields.requests ?? 1;
  const latencyBuckets = Array.from({ length: LATENCY_BUCKETS }, (_, index) => (index === bucket ? requests : 0));
  return {
    resourceSetId: setA,
    clientWorkloadId: client,
    serverWorkloadId: server,
    target: 'https://api.example.com:443',
    outcome: 'allow',
    statusClass: '2xx',
    reason: null,
    latencyMsSum: requests * 7.5,
    latencyBuckets,
    ...fields,
    requests,
  };
}

const minute = (n: number) => new Date(Date.parse('2030-05-01T10:00:00.000Z') + n * 60_000).toISOString();

describe.each(BACKENDS)('request metrics in the store ($name)', (backend) => {
  let harness: BackendHarness;
  let store: Store;
  const add = (...rows: RequestMetricRow[]) => store.transaction((tx) => tx.addRequestMetrics(rows));
  const list = (query: Partial<ListRequestMetricsQuery> = {}) => store.listRequestMetrics({ groupBy: 'minute', limit: 500, ...query });

  beforeEach(async () => {
    harness = await backend.createHarness();
    store = harness.createStore();
    await store.migrate();
  });
  afterEach(async () => {
    await harness.dispose();
  });

  it('adds counts and histograms to the row of the same key, exactly, past 32 bits', async () => {
    const big = 3_000_000_000;
    await add(row({ time: minute(0), requests: 2 }), row({ time: minute(0), statusClass: '5xx' }));
    await add(row({ time: minute(0), requests: 3 }, 0), row({ time: minute(0), statusClass: '5xx', requests: big }, 13));
    const rows = await list();
    expect(rows).toHaveLength(2);
    const ok = rows.find((each) => each.statusClass === '2xx')!;
    expect(ok).toMatchObject({ requests: 5, latencyMsSum: 37.5, serverWorkloadId: server, reason: null });
    expect(ok.latencyBuckets).toEqual([3, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const failed = rows.find((each) => each.statusClass === '5xx')!;
    expect(failed.requests).toBe(big + 1);
    expect(failed.latencyBuckets[13]).toBe(big);
  });

  it('keeps "none" apart from every value: null server workload, status class and reason', async () => {
    await add(
      row({ time: minute(0), serverWorkloadId: null, statusClass: null, outcome: 'error', reason: 'cloud_unavailable' }),
      row({ time: minute(0), statusClass: null, outcome: 'deny', reason: 'no_matching_policy' }),
    );
    const rows = await list();
    expect(rows.map((each) => [each.serverWorkloadId, each.statusClass, each.outcome, each.reason]).sort()).toEqual(
      [
        [null, null, 'error', 'cloud_unavailable'],
        [server, null, 'deny', 'no_matching_policy'],
      ].sort(),
    );
  });

  it('lists newest first, filtered, within the resource sets asked for, page by page without gaps or repeats', async () => {
    const rows: RequestMetricRow[] = [];
    for (let m = 0; m < 4; m += 1) {
      rows.push(
        row({ time: minute(m) }),
        row({ time: minute(m), clientWorkloadId: otherClient, outcome: 'deny', statusClass: null, reason: 'condition_failed' }),
        row({ time: minute(m), resourceSetId: setB, clientWorkloadId: randomUUID() }),
      );
    }
    await add(...rows);
    const all = await list();
    expect(all).toHaveLength(12);
    expect(all.map((each) => each.time)).toEqual([...all.map((each) => each.time)].sort().reverse());

    const pages: RequestMetricRow[] = [];
    let after: ListRequestMetricsQuery['after'];
    for (;;) {
      const page = await list({ limit: 5, ...(after ? { after } : {}) });
      pages.push(...page);
      if (page.length < 5) break;
      after = positionOf(page.at(-1)!);
    }
    expect(pages).toEqual(all);

    expect(await list({ resourceSetIds: [setB] })).toHaveLength(4);
    expect(await list({ resourceSetIds: [] })).toEqual([]);
    expect((await list({ clientWorkloadId: otherClient })).every((each) => each.reason === 'condition_failed')).toBe(true);
    expect(await list({ outcome: 'deny' })).toHaveLength(4);
    expect(await list({ serverWorkloadId: server, resourceSetIds: [setA] })).toHaveLength(8);
    expect((await list({ since: minute(1), until: minute(3) })).map((each) => each.time).sort()).toEqual([minute(1), minute(1), minute(1), minute(2), minute(2), minute(2)]);
  });

  it('adds the minutes of an hour up, per key, and pages through hours', async () => {
    await add(
      row({ time: minute(0), requests: 1 }, 0),
      row({ time: minute(59), requests: 2 }, 5),
      row({ time: minute(60), requests: 4 }, 1),
      row({ time: minute(61), requests: 8, outcome: 'error', statusClass: null, reason: 'request_failed' }, 13),
    );
    const hours = await list({ groupBy: 'hour' });
    expect(hours.map((each) => [each.time, each.outcome, each.requests])).toEqual([
      ['2030-05-01T11:00:00.000Z', 'error', 8],
      ['2030-05-01T11:00:00.000Z', 'allow', 4],
      ['2030-05-01T10:00:00.000Z', 'allow', 3],
    ]);
    expect(hours[2]!.latencyBuckets.slice(0, 6)).toEqual([1, 0, 0, 0, 0, 2]);
    expect(hours[2]!.latencyMsSum).toBe(22.5);
    const second = await list({ groupBy: 'hour', limit: 1, after: positionOf(hours[0]!) });
    expect(second).toEqual([hours[1]]);
  });

  it('claims a report id once per resource set, and forgets it for its own client workload only', async () => {
    const reportId = randomUUID();
    const claim = (resourceSetId: string, clientWorkloadId = client) =>
      store.transaction((tx) => tx.claimMetricReport({ resourceSetId, reportId, clientWorkloadId, receivedAt: minute(0) }));
    expect(await claim(setA)).toBe(true);
    expect(await claim(setA)).toBe(false);
    expect(await claim(setB)).toBe(true); // another tenant's id cannot block this one
    await store.transaction((tx) => tx.forgetMetricReport(setA, otherClient, reportId));
    expect(await claim(setA)).toBe(false);
    await store.transaction((tx) => tx.forgetMetricReport(setA, client, reportId));
    expect(await claim(setA)).toBe(true);
  });

  it('prunes old rows and old report ids in bounded steps, and nothing newer', async () => {
    await add(...Array.from({ length: 5 }, (_, m) => row({ time: minute(m) })));
    expect(await store.transaction((tx) => tx.pruneRequestMetrics(minute(3), 2))).toBe(2);
    expect(await store.transaction((tx) => tx.pruneRequestMetrics(minute(3), 2))).toBe(1);
    expect(await store.transaction((tx) => tx.pruneRequestMetrics(minute(3), 2))).toBe(0);
    expect((await list()).map((each) => each.time)).toEqual([minute(4), minute(3)]);

    for (let m = 0; m < 3; m += 1) {
      await store.transaction((tx) => tx.claimMetricReport({ resourceSetId: setA, reportId: randomUUID(), clientWorkloadId: client, receivedAt: minute(m) }));
    }
    expect(await store.transaction((tx) => tx.pruneMetricReports(minute(2), 10))).toBe(2);
    expect(await harness.rawQuery('SELECT received_at FROM request_metric_reports')).toEqual([{ received_at: minute(2) }]);
  });
});
