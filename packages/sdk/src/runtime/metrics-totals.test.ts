import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LATENCY_BOUNDS_MS } from '../cloud/request-metrics.js';
import { FaultProxy, IDP_ISSUER, startTestCloud, testCollector, TestIdp, type TestCloud } from '../../test/support/test-cloud.js';
import { captureLogs, startTarget, type TargetServer } from '../../test/support/world.js';
import { Tessera } from './tessera.js';

/**
 * Nothing is lost and nothing counts twice: requests made through the SDK, reported over several
 * flushes, a send that failed, a report whose answer was lost (the control plane stored it, the
 * SDK sent it again), and the last report at close — the admin API's totals are the requests
 * made, per outcome and status class, with full histograms. On both stores.
 */

const POSTGRES = process.env.TESSERA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const API_KEY = 'sk_live_totals_9c2e_never_in_logs';

/** A database of its own for a control plane on PostgreSQL; dropped at the end. */
async function temporaryDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `tessera_sdk_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: POSTGRES });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  return { url: Object.assign(new URL(POSTGRES), { pathname: `/${name}` }).href, drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

interface Row {
  serverWorkloadId: string | null;
  outcome: string;
  statusClass: string | null;
  reason: string | null;
  requests: number;
  latencyBuckets: number[];
}

describe.each(['sqlite', 'postgres'] as const)('request metrics through the SDK add up exactly (%s)', (backend) => {
  const idp = new TestIdp();
  const proxy = new FaultProxy();
  let cloud: TestCloud;
  let database: Awaited<ReturnType<typeof temporaryDatabase>> | undefined;
  let api: TargetServer;
  let denied: TargetServer;
  let ids: { client: string; api: string; denied: string };

  beforeAll(async () => {
    await proxy.listen();
    database = backend === 'postgres' ? await temporaryDatabase() : undefined;
    cloud = await startTestCloud(proxy.url, [], database ? { databaseUrl: database.url } : {});
    proxy.upstream = cloud.server.listeningUrl;
    [api, denied] = await Promise.all([startTarget(), startTarget()]);
    const post = (plural: string, body: object) => cloud.admin('POST', `/api/v1/${plural}`, body);
    const trust = await post('trust-providers', { name: 'idp', type: 'oidc', config: { issuer: IDP_ISSUER, jwks: { keys: [idp.publicJwk] }, algorithms: ['ES256'] } });
    const client = await post('client-workloads', { name: 'totals', identities: [{ claim: 'oidc.subject', value: 'svc-totals' }] });
    const key = await post('credential-providers', { name: 'key', type: 'api-key', secrets: { apiKey: API_KEY } });
    const server = (name: string, target: TargetServer) => post('server-workloads', { name, scheme: 'http', host: '127.0.0.1', port: target.port, injection: { kind: 'header', name: 'authorization' } });
    const apiServer = await server('api', api);
    const deniedServer = await server('denied', denied);
    await post('access-policies', { name: 'api', clientWorkloadIds: [client.id], serverWorkloadId: apiServer.id, trustProviderIds: [trust.id], credentialProviderId: key.id });
    // In the directory too, but its only policy has a condition that never passes: condition_failed.
    const never = await post('access-conditions', { name: 'never', type: 'source-ip', config: { allow: ['192.0.2.1/32'] } });
    await post('access-policies', { name: 'denied', clientWorkloadIds: [client.id], serverWorkloadId: deniedServer.id, trustProviderIds: [trust.id], credentialProviderId: key.id, accessConditionIds: [never.id] });
    ids = { client: client.id, api: apiServer.id, denied: deniedServer.id };
  });
  afterAll(async () => {
    await Promise.all([api, denied].map((target) => target?.close()));
    await proxy.close();
    await cloud?.close();
    await database?.drop();
  });

  it('per outcome and status class, across flushes, a failed send, a lost answer and close', async () => {
    const tessera = new Tessera({ cloudUrl: proxy.url, collectors: [testCollector(idp, { subject: 'svc-totals' })], metrics: { flushIntervalMs: 0 }, deadlineMs: 1000, requestTimeoutMs: 500, logger: captureLogs().logger });
    const call = async (target: TargetServer, count: number, status = 200) => {
      for (let i = 0; i < count; i += 1) {
        target.answers.push({ status });
        await tessera.fetch(`${target.url}/v1/item?i=${i}`).then((response) => response.arrayBuffer(), () => undefined);
      }
    };
    const metricsPosts = () => proxy.count('/edge/v1/metrics');

    await call(api, 20);
    await tessera.flush();
    await call(api, 10, 503);
    proxy.always = { status: 503 }; // the control plane is away: the report is kept
    await tessera.flush();
    proxy.always = undefined;
    await call(denied, 5);
    await tessera.flush(); // the kept report, then a new one
    await call(api, 4, 404);
    const posts = metricsPosts();
    proxy.faults.push({ status: 504, afterForwarding: true }); // stored, but the answer is lost
    await tessera.flush();
    await tessera.flush(); // the same report again: a duplicate the control plane does not count
    expect(metricsPosts()).toBe(posts + 2);
    await call(api, 7);
    await tessera.close(); // the last report

    expect(tessera.droppedRequests).toBe(0);
    const listed = await cloud.admin('GET', `/api/v1/request-metrics?clientWorkloadId=${ids.client}&limit=500`);
    expect(listed.latencyBucketBoundsMs).toEqual([...LATENCY_BOUNDS_MS, null]); // one histogram on both sides
    const rows: Row[] = listed.items;
    const total = (filter: (row: Row) => boolean) => rows.filter(filter).reduce((sum, row) => sum + row.requests, 0);
    expect(total(() => true)).toBe(46);
    expect(total((row) => row.outcome === 'allow' && row.statusClass === '2xx')).toBe(27);
    expect(total((row) => row.outcome === 'allow' && row.statusClass === '5xx')).toBe(10);
    expect(total((row) => row.outcome === 'allow' && row.statusClass === '4xx')).toBe(4);
    expect(total((row) => row.outcome === 'deny' && row.reason === 'condition_failed' && row.serverWorkloadId === ids.denied)).toBe(5);
    expect(total((row) => row.serverWorkloadId === ids.api)).toBe(41);
    for (const row of rows) expect(row.latencyBuckets.reduce((a, b) => a + b, 0)).toBe(row.requests);
    expect(denied.received).toHaveLength(0);
  });
});
