import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../../test/support/store-backends.js';
import { create, createTestApp, type TestApp } from '../../test/support/app-harness.js';
import { EdgeTestClient, type Send } from '../../test/support/edge-client.js';
import { SessionRate } from './session-rate.js';

/**
 * Request metrics end to end in one control plane: reports in through the edge API, rows out
 * through the admin API. The minute a report lands in follows a clock of the test's own.
 */

const ISSUER = 'https://tessera.test';
const T0 = Date.parse('2030-05-01T10:00:00.000Z');

interface Row {
  time: string;
  resourceSetId: string;
  clientWorkloadId: string;
  serverWorkloadId: string | null;
  target: string;
  outcome: string;
  statusClass: string | null;
  reason: string | null;
  requests: number;
  latencyMsSum: number;
  latencyBuckets: number[];
}

const buckets = (requests: number, bucket = 2) => Array.from({ length: 14 }, (_, index) => (index === bucket ? requests : 0));
const series = (fields: Record<string, unknown> = {}) => ({
  target: { scheme: 'https', host: 'api.example.com', port: 443 },
  outcome: 'allow',
  statusClass: '2xx',
  requests: 3,
  latencyMsSum: 12,
  latencyBuckets: buckets(3),
  ...fields,
});

describe.each(BACKENDS)('request metrics API ($name)', (backend) => {
  let t: TestApp;
  let send: Send;
  let clockMs = T0;
  let ids: { setA: string; setB: string; client: string; server: string; serverB: string; disabled: string };
  const keys: Record<string, string> = {};

  beforeAll(async () => {
    t = await createTestApp(backend, {
      app: {
        requestMetrics: {
          reportIntervalSeconds: 30,
          maxKeysPerMinute: 4,
          rate: new SessionRate({ burst: 5, perSecond: 1, now: () => clockMs }),
          now: () => new Date(clockMs),
        },
      },
    });
    send = async (method, path, headers, body) => {
      const response = await t.app.inject({ method: method as 'POST', url: path, headers, payload: body as object });
      return { status: response.statusCode, body: response.body ? JSON.parse(response.body) : undefined };
    };
    const setA = (await t.call('GET', '/api/v1/resource-sets')).body.items[0].id as string;
    const setB = (await create(t, 'resource-sets', { name: 'b' })).id as string;
    const client = await create(t, 'client-workloads', { name: 'payments', identities: [{ claim: 'fixture.subject', value: 'svc-*' }] });
    const disabled = await create(t, 'client-workloads', { name: 'soon-disabled', identities: [{ claim: 'fixture.subject', value: 'temp-*' }] });
    await create(t, 'trust-providers', { name: 'fixture', type: 'fixture-static', config: { subjects: ['svc-a', 'svc-b', 'svc-c', 'svc-d', 'temp-1'] } });
    const server = await create(t, 'server-workloads', { name: 'api', host: '*.example.com', port: 443, scheme: 'https', injection: { kind: 'basic' } });
    const serverB = await create(t, 'server-workloads', { name: 'api-b', resourceSetId: setB, host: 'api.example.com', port: 443, scheme: 'https', injection: { kind: 'basic' } });
    ids = { setA, setB, client: client.id, server: server.id, serverB: serverB.id, disabled: disabled.id };
    for (const [name, role, resourceSetIds] of [['auditor-a', 'auditor', [setA]], ['auditor-b', 'auditor', [setB]], ['editor', 'editor', ['*']]] as const) {
      keys[name] = (await create(t, 'admin-keys', { name, role, resourceSetIds })).key;
    }
  });
  afterAll(async () => {
    await t.close();
  });

  const sdk = async (subject = 'svc-a') => {
    const client = await EdgeTestClient.create(ISSUER, send);
    const attested = await client.attest({ type: 'fixture', subject });
    expect(attested.status, JSON.stringify(attested.body)).toBe(200);
    return client;
  };
  const list = async (query = '', key?: string): Promise<Row[]> => {
    const rows: Row[] = [];
    let cursor: string | null = null;
    do {
      const response = await t.call('GET', `/api/v1/request-metrics?limit=3${query}${cursor ? `&cursor=${cursor}` : ''}`, key ? { key } : {});
      expect(response.status, response.raw).toBe(200);
      rows.push(...response.body.items);
      cursor = response.body.nextCursor;
    } while (cursor !== null);
    return rows;
  };
  const total = (rows: Row[]) => rows.reduce((sum, row) => sum + row.requests, 0);
  const everything = () => t.harness.rawQuery('SELECT SUM(requests) AS requests, COUNT(*) AS rows FROM request_metrics');

  it('tells the SDK its report interval at attestation and in every answer', async () => {
    const client = await sdk();
    const attested = await client.attest({ type: 'fixture', subject: 'svc-a' });
    expect(attested.body.reportIntervalSeconds).toBe(30);
    const answer = await client.metrics({ reportId: randomUUID(), series: [series({ target: { scheme: 'https', host: 'interval.example.org', port: 443 } })] });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body).toEqual({ requests: 3, duplicate: false, reportIntervalSeconds: 30 });
  });

  it('counts every request exactly once across reports, minutes, retries and duplicate deliveries', async () => {
    const client = await sdk('svc-b');
    const since = new Date(T0 + 3_600_000).toISOString(); // an hour of its own
    clockMs = T0 + 3_600_000;
    const sent: Array<{ reportId: string; previousReportId?: string; series: unknown[] }> = [];
    let previous: string | undefined;
    for (let minute = 0; minute < 3; minute += 1) {
      clockMs = T0 + 3_600_000 + minute * 60_000 + 5_000;
      const report = {
        reportId: randomUUID(),
        ...(previous ? { previousReportId: previous } : {}),
        series: [
          series({ serverWorkloadId: ids.server, target: { scheme: 'https', host: '*.example.com', port: 443 }, requests: 5, latencyBuckets: buckets(5, 0), latencyMsSum: 2 }),
          series({ serverWorkloadId: ids.server, target: { scheme: 'https', host: '*.example.com', port: 443 }, statusClass: '5xx', requests: 2, latencyBuckets: buckets(2, 13), latencyMsSum: 30_000 }),
          series({ serverWorkloadId: ids.server, target: { scheme: 'https', host: '*.example.com', port: 443 }, outcome: 'deny', statusClass: null, reason: 'condition_failed', requests: 1, latencyBuckets: buckets(1, 5), latencyMsSum: 40 }),
        ],
      };
      sent.push(report);
      const answer = await client.metrics(report);
      expect(answer.body).toMatchObject({ requests: 8, duplicate: false });
      previous = report.reportId;
    }
    // The answer to the last report was lost: the SDK sends it again, twice, a minute later.
    clockMs += 60_000;
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const again = await client.metrics(sent[2]);
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ requests: 0, duplicate: true });
    }
    // An earlier one, whose id was forgotten once a later report named it, is not expected again;
    // but the one still remembered (the last) stays a duplicate even from another process of the workload.
    const other = await sdk('svc-c');
    expect((await other.metrics(sent[2])).body.duplicate).toBe(true);

    const rows = await list(`&clientWorkloadId=${ids.client}&since=${since}`);
    expect(rows.map((row) => row.time)).toEqual([...rows.map((row) => row.time)].sort().reverse());
    expect(total(rows)).toBe(24);
    const by = (outcome: string, statusClass: string | null) => rows.filter((row) => row.outcome === outcome && row.statusClass === statusClass);
    expect(total(by('allow', '2xx'))).toBe(15);
    expect(total(by('allow', '5xx'))).toBe(6);
    expect(total(by('deny', null))).toBe(3);
    for (const row of rows) {
      expect(row.latencyBuckets.reduce((a, b) => a + b, 0)).toBe(row.requests);
      expect(row).toMatchObject({ resourceSetId: ids.setA, serverWorkloadId: ids.server, target: 'https://*.example.com:443' });
    }
    const hours = await list(`&clientWorkloadId=${ids.client}&since=${since}&groupBy=hour`);
    expect(hours.map((row) => [row.time, row.outcome, row.statusClass, row.requests])).toEqual([
      ['2030-05-01T11:00:00.000Z', 'deny', null, 3],
      ['2030-05-01T11:00:00.000Z', 'allow', '5xx', 6],
      ['2030-05-01T11:00:00.000Z', 'allow', '2xx', 15],
    ]);
    expect(hours[1]!.latencyBuckets[13]).toBe(6);
    expect(hours[1]!.latencyMsSum).toBe(90_000);
  });

  it('refuses bad reports with a 4xx and a code, stores nothing of them, and keeps serving', async () => {
    clockMs = T0 + 2 * 3_600_000;
    const client = await sdk('svc-d');
    const before = await everything();
    const report = (fields: Record<string, unknown>, body: Record<string, unknown> = {}) => ({ reportId: randomUUID(), series: [series(fields)], ...body });
    const cases: Array<[string, unknown, number, string]> = [
      ['negative count', report({ requests: -1 }), 400, 'validation_failed'],
      ['zero count', report({ requests: 0, latencyBuckets: buckets(0) }), 400, 'validation_failed'],
      ['negative bucket', report({ latencyBuckets: [4, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] }), 400, 'validation_failed'],
      ['too many buckets', report({ latencyBuckets: [...buckets(3), 0] }), 400, 'validation_failed'],
      ['too few buckets', report({ latencyBuckets: [3] }), 400, 'validation_failed'],
      ['fractional count', report({ requests: 1.5 }), 400, 'validation_failed'],
      ['buckets that do not add up', report({ latencyBuckets: buckets(2) }), 400, 'invalid_metrics'],
      ['latency beyond an hour a request', report({ latencyMsSum: 3 * 3_600_001 }), 400, 'invalid_metrics'],
      ['too many series', { reportId: randomUUID(), series: Array.from({ length: 501 }, () => series()) }, 400, 'validation_failed'],
      ['no series', { reportId: randomUUID(), series: [] }, 400, 'validation_failed'],
      ['no report id', { series: [series()] }, 400, 'validation_failed'],
      ['a report id that is not a UUID', report({}, { reportId: 'one' }), 400, 'validation_failed'],
      ['an unknown field', report({ path: '/v1/secret' }), 400, 'validation_failed'],
      ['a bad host', report({ target: { scheme: 'https', host: 'a b', port: 443 } }), 400, 'validation_failed'],
      ['a bad reason', report({ outcome: 'deny', statusClass: null, reason: 'Not-A-Code' }), 400, 'validation_failed'],
      ['another set\'s server workload', report({ serverWorkloadId: ids.serverB }), 400, 'unknown_server_workload'],
      ['a server workload that does not exist', report({ serverWorkloadId: randomUUID() }), 400, 'unknown_server_workload'],
    ];
    for (const [name, body, status, code] of cases) {
      clockMs += 1000; // within the process's rate
      const answer = await client.metrics(body);
      expect([answer.status, answer.body?.code], name).toEqual([status, code]);
    }
    // Another set's id and an id of nothing answer alike: no way to learn what exists elsewhere.
    clockMs += 2000;
    const viaB = await client.metrics(report({ serverWorkloadId: ids.serverB }));
    const ghost = await client.metrics(report({ serverWorkloadId: randomUUID() }));
    expect(viaB.body).toEqual(ghost.body);
    expect(JSON.stringify(viaB.body)).not.toContain(ids.serverB);

    // The largest valid report (500 series with the longest hosts) is about 210 KB; past 256 KiB, 413.
    const oversize = { reportId: randomUUID(), series: Array.from({ length: 500 }, () => series({ reason: 'x'.repeat(600) })) };
    expect(JSON.stringify(oversize).length).toBeGreaterThan(256 * 1024);
    const tooLarge = await client.metrics(oversize);
    expect([tooLarge.status, tooLarge.body.code]).toEqual([413, 'payload_too_large']);

    // A disabled client workload's token is refused, and its report is not stored.
    const temp = await sdk('temp-1');
    expect((await temp.metrics(report({}))).status).toBe(200);
    const beforeDisable = await everything();
    await t.call('PATCH', `/api/v1/client-workloads/${ids.disabled}`, { body: { enabled: false } });
    const refused = await temp.metrics(report({}));
    expect([refused.status, refused.body.code]).toEqual([401, 'invalid_edge_token']);
    expect(await everything()).toEqual(beforeDisable);
    expect(Number(beforeDisable[0]!.requests)).toBe(Number(before[0]!.requests) + 3);

    const fine = await client.metrics(report({}));
    expect(fine.status).toBe(200);
  });

  it('tells a process that reports too often to wait, and stores nothing of the refused report', async () => {
    clockMs = T0 + 3 * 3_600_000;
    const client = await sdk();
    const answers = [];
    for (let i = 0; i < 6; i += 1) answers.push(await client.metrics({ reportId: randomUUID(), series: [series({ target: { scheme: 'https', host: 'rate.example.org', port: 443 } })] }));
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200, 429]);
    expect(answers[5]!.body.code).toBe('rate_limited');
    const raw = await t.app.inject({
      method: 'POST',
      url: '/edge/v1/metrics',
      headers: { authorization: `DPoP ${client.edgeToken}`, dpop: await client.proof('POST', '/edge/v1/metrics', { token: client.edgeToken! }) },
      payload: { reportId: randomUUID(), series: [series()] },
    });
    expect([raw.statusCode, raw.headers['retry-after']]).toEqual([429, '1']);
    // Older SDKs' events are not rate-limited: they would lose what is refused.
    const event = { time: new Date().toISOString(), target: { scheme: 'https', host: 'rate.example.org', port: 443, path: '/v1' }, outcome: 'allow', statusClass: '2xx', latencyMs: 1 };
    expect((await client.events([event])).status).toBe(202);
    const rows = await list(`&since=${new Date(clockMs - 60_000).toISOString()}`);
    expect(total(rows.filter((row) => row.target === 'https://rate.example.org:443'))).toBe(16);
    clockMs += 2_000; // two tokens back
    expect((await client.metrics({ reportId: randomUUID(), series: [series()] })).status).toBe(200);
  });

  it('folds keys past a client workload\'s budget per minute into one row per outcome, keeping every count', async () => {
    clockMs = T0 + 4 * 3_600_000;
    const client = await sdk();
    const hosts = Array.from({ length: 7 }, (_, i) => series({ target: { scheme: 'https', host: `h${i}.example.org`, port: 443 }, outcome: 'error', statusClass: null, reason: `r_${String.fromCharCode(97 + i)}`, requests: 1, latencyBuckets: buckets(1) }));
    expect((await client.metrics({ reportId: randomUUID(), series: hosts })).status).toBe(200);
    const rows = await list(`&since=${new Date(clockMs - 60_000).toISOString()}&outcome=error`);
    expect(rows).toHaveLength(5);
    expect(total(rows)).toBe(7);
    expect(rows.find((row) => row.target === '*')).toMatchObject({ reason: '*', requests: 3 });
    clockMs += 60_000; // a new minute, a new budget
    expect((await client.metrics({ reportId: randomUUID(), series: hosts.slice(0, 4) })).status).toBe(200);
    expect((await list(`&since=${new Date(clockMs - 1000).toISOString()}`)).map((row) => row.target).sort()).toEqual(['https://h0.example.org:443', 'https://h1.example.org:443', 'https://h2.example.org:443', 'https://h3.example.org:443']);
  });

  it('is read as audit events are: by admins and auditors, within their resource sets only', async () => {
    clockMs = T0 + 5 * 3_600_000;
    await t.store.transaction((tx) =>
      tx.addRequestMetrics([
        { time: new Date(clockMs).toISOString(), resourceSetId: ids.setB, clientWorkloadId: randomUUID(), serverWorkloadId: ids.serverB, target: 'https://api.example.com:443', outcome: 'allow', statusClass: '2xx', reason: null, requests: 9, latencyMsSum: 9, latencyBuckets: buckets(9) },
      ]),
    );
    const all = await list();
    expect(new Set(all.map((row) => row.resourceSetId))).toEqual(new Set([ids.setA, ids.setB]));
    expect((await list('', keys['auditor-a'])).every((row) => row.resourceSetId === ids.setA)).toBe(true);
    expect((await list('', keys['auditor-b'])).map((row) => row.requests)).toEqual([9]);
    expect(await list(`&resourceSetId=${ids.setB}`, keys['auditor-a'])).toEqual([]);
    expect(await list(`&resourceSetId=${randomUUID()}`, keys['auditor-a'])).toEqual([]);
    const editor = await t.call('GET', '/api/v1/request-metrics', { key: keys.editor });
    expect([editor.status, editor.body.code]).toEqual([403, 'forbidden']);
    const bounds = (await t.call('GET', '/api/v1/request-metrics?limit=1')).body.latencyBucketBoundsMs;
    expect(bounds).toEqual([1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, null]);
    for (const query of ['cursor=abc', `cursor=${Buffer.from('["a"]').toString('base64url')}`, 'groupBy=day', 'outcome=success', 'since=yesterday', 'path=/x']) {
      const response = await t.call('GET', `/api/v1/request-metrics?${query}`);
      expect(response.status, query).toBe(400);
    }
  });
});
