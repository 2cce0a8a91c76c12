import { createServer } from 'node:net';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProviderRegistry, TesseraError } from '@tessera/providers';
import { defineEvidenceCollector, loadOptionalDependency } from '@tessera/providers/collect';
import { TesseraAccessDeniedError, TesseraCloudError, TesseraConfigurationError, TesseraUnavailableError } from '../errors.js';
import { EdgeClient, type EdgeClientOptions } from './edge-client.js';
import { RequestMetrics } from './request-metrics.js';
import type { CloudLogger } from './logger.js';
import { FaultProxy, IDP_ISSUER, startTestCloud, testCollector, TestIdp, type TestCloud, type TestCollectorOptions } from '../../test/support/test-cloud.js';

/**
 * The client against a real control plane on loopback (admin API to configure it, edge API over
 * real HTTP), fronted by a proxy that counts requests and injects faults.
 */
const API_KEY = 'sk_live_sdk_test_5f0c_do_not_leak';
const api = { scheme: 'https', host: 'api.example.com', port: 443, path: '/v1/charges' } as const;

const idp = new TestIdp();
const rogueIdp = new TestIdp(); // same issuer name, a key no trust provider knows
const proxy = new FaultProxy();
let cloud: TestCloud;
let closedPort: number;
const logLines: string[] = [];
const observed: string[] = []; // error texts and printed objects, checked for secrets at the end
const clients: EdgeClient[] = [];

const logger: CloudLogger = {
  debug: (message, fields) => logLines.push(`${message} ${JSON.stringify(fields ?? {})}`),
  info: (message, fields) => logLines.push(`${message} ${JSON.stringify(fields ?? {})}`),
  warn: (message, fields) => logLines.push(`${message} ${JSON.stringify(fields ?? {})}`),
};

function client(collector: TestCollectorOptions | EdgeClientOptions['collectors'] = { subject: 'svc-payments' }, options: Partial<EdgeClientOptions> = {}) {
  const collectors = typeof collector === 'object' && !Array.isArray(collector) ? [testCollector(idp, collector as TestCollectorOptions)] : collector;
  const created = new EdgeClient({ cloudUrl: proxy.url, collectors, logger, retry: { baseDelayMs: 5, maxDelayMs: 20 }, ...options });
  clients.push(created);
  return created;
}

async function rejection(promise: Promise<unknown>): Promise<any> {
  const error = await promise.then(
    () => expect.fail('expected a rejection'),
    (e: unknown) => e,
  );
  observed.push(inspect(error, { depth: 5 }), JSON.stringify(error), String((error as Error).message));
  return error;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A time-window that excludes now: it opens 12 hours from now for one minute. */
function closedWindow() {
  const at = new Date(Date.now() + 12 * 3600_000);
  const hhmm = (d: Date) => `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
  return { timeZone: 'UTC', start: hhmm(at), end: hhmm(new Date(at.getTime() + 60_000)) };
}

/** The objects every test relies on, through the admin API. */
async function configure(target: TestCloud): Promise<void> {
  const post = (plural: string, body: object) => target.admin('POST', `/api/v1/${plural}`, body);
  const trust = await post('trust-providers', { name: 'idp', type: 'oidc', config: { issuer: IDP_ISSUER, jwks: { keys: [idp.publicJwk] }, algorithms: ['ES256'] } });
  const other = await post('trust-providers', { name: 'other-idp', type: 'oidc', config: { issuer: 'https://other-idp.test', jwks: { keys: [rogueIdp.publicJwk] }, algorithms: ['ES256'] } });
  const payments = await post('client-workloads', { name: 'payments', identities: [{ claim: 'oidc.subject', value: 'svc-payments' }] });
  await post('client-workloads', { name: 'twin-a', identities: [{ claim: 'oidc.subject', value: 'svc-twin' }] });
  await post('client-workloads', { name: 'twin-b', identities: [{ claim: 'oidc.subject', value: 'svc-twin' }] });
  const injection = { kind: 'header', name: 'authorization' };
  const server = (name: string, host: string) => post('server-workloads', { name, host, port: 443, scheme: 'https', injection });
  const [apiServer, , strict, closed, broken] = await Promise.all([
    server('api', 'api.example.com'),
    server('no-policy', 'nopolicy.example.com'),
    server('strict', 'strict.example.com'),
    server('closed', 'closed.example.com'),
    server('broken', 'broken.example.com'),
  ]);
  const key = await post('credential-providers', { name: 'key', type: 'api-key', secrets: { apiKey: API_KEY } });
  // A token endpoint on a closed port: the credential provider fails for real.
  const brokenOauth = await post('credential-providers', {
    name: 'broken-oauth',
    type: 'oauth2-client-credentials',
    config: { tokenEndpoint: `http://127.0.0.1:${closedPort}/token`, clientId: 'c', authMethod: 'client_secret_post', timeoutMs: 500 },
    secrets: { clientSecret: 'oauth-client-secret-value' },
  });
  const window = await post('access-conditions', { name: 'office-hours', type: 'time-window', config: closedWindow() });
  const policy = (name: string, serverWorkloadId: string, extra: object = {}) =>
    post('access-policies', { name, clientWorkloadIds: [payments.id], serverWorkloadId, trustProviderIds: [trust.id], credentialProviderId: key.id, ...extra });
  await policy('api', apiServer.id);
  await policy('strict', strict.id, { trustProviderIds: [other.id] });
  await policy('closed', closed.id, { accessConditionIds: [window.id] });
  await policy('broken', broken.id, { credentialProviderId: brokenOauth.id });
  // Another team's resource set, trusting the same issuer for the same subject.
  const teamB = await post('resource-sets', { name: 'team-b' });
  const inB = { resourceSetId: teamB.id };
  await post('trust-providers', { ...inB, name: 'idp', type: 'oidc', config: { issuer: IDP_ISSUER, jwks: { keys: [idp.publicJwk] }, algorithms: ['ES256'] } });
  await post('client-workloads', { ...inB, name: 'b-payments', identities: [{ claim: 'oidc.subject', value: 'svc-payments' }] });
}

beforeAll(async () => {
  closedPort = await freePort();
  await proxy.listen();
  cloud = await startTestCloud(proxy.url);
  proxy.upstream = cloud.server.listeningUrl;
  await configure(cloud);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await proxy.close();
  await cloud?.close();
});

describe('EdgeClient against a real control plane', () => {
  it('attests lazily, then fetches a credential with the edge token', async () => {
    const attests = proxy.count('/edge/v1/attest');
    const sdk = client();
    expect(proxy.count('/edge/v1/attest')).toBe(attests); // nothing before first use
    const session = await sdk.session();
    expect(session.clientWorkload.name).toBe('payments');
    expect(session.directory.map((d) => d.name).sort()).toEqual(['api', 'broken', 'closed', 'strict']);
    expect(session.directory.find((d) => d.name === 'api')).toMatchObject({ host: 'api.example.com', port: 443, pathPrefix: '/', injection: { kind: 'header', name: 'authorization', format: 'Bearer {token}' } });
    const issued = await sdk.credentials({ ...api, path: '/v1/charges?card=4242' });
    expect(issued).toMatchObject({ credential: { kind: 'token', token: API_KEY }, injection: { kind: 'header', name: 'authorization' }, serverWorkloadId: expect.any(String), policyId: expect.any(String) });
    expect(issued.expiresAt).toBeGreaterThan(Date.now());
    expect(proxy.count('/edge/v1/attest')).toBe(attests + 1);
    const audit = await cloud.admin('GET', `/api/v1/audit-events?kind=edge.credential&limit=50`);
    expect(audit.items.some((e: { data: { target: { path: string } } }) => e.data.target.path === '/v1/charges')).toBe(true);
    observed.push(inspect(session, { depth: 5 }), JSON.stringify(session), inspect(sdk, { depth: 5 }));
  });

  it('hands collectors a way to ask the cloud for a nonce bound to this key', async () => {
    const nonces: string[] = [];
    const inner = testCollector(idp, { subject: 'svc-payments' });
    const collector = defineEvidenceCollector({
      specificationVersion: 'v1',
      type: 'nonce-user',
      evidenceType: 'jwt',
      detect: async () => true,
      async collect(ctx) {
        nonces.push(await ctx.nonce!());
        return { ...(await inner.collect(ctx)), nonce: nonces.at(-1) };
      },
    });
    const challenges = proxy.count('/edge/v1/challenge');
    const session = await client([collector]).session();
    expect(session.clientWorkload.name).toBe('payments');
    expect(proxy.count('/edge/v1/challenge')).toBe(challenges + 1);
    expect(nonces[0]).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    observed.push(...nonces.map(() => 'nonce'));
  });

  it('shares one attestation among concurrent callers', async () => {
    const attests = proxy.count('/edge/v1/attest');
    const collector = testCollector(idp, { subject: 'svc-payments' });
    const sdk = client([collector]);
    const sessions = await Promise.all(Array.from({ length: 10 }, () => sdk.session()));
    expect(new Set(sessions).size).toBe(1);
    await Promise.all(Array.from({ length: 5 }, () => sdk.credentials(api)));
    expect(proxy.count('/edge/v1/attest')).toBe(attests + 1);
    expect(collector.collected).toBe(1);
  });

  it('renews the edge token within the skew of its expiry, with fresh evidence', async () => {
    let offsetMs = 0;
    const now = () => new Date(Date.now() + offsetMs);
    const collector = testCollector(idp, { subject: 'svc-payments', lifetimeSeconds: 60, now });
    const sdk = client([collector], { now, skewSeconds: 20 });
    const first = await sdk.session();
    // The edge token never outlives the evidence it was issued on (60 s here, not 15 min).
    expect(first.expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(60_000);
    offsetMs = 30_000; // 30 s left: outside the skew
    expect(await sdk.session()).toBe(first);
    offsetMs = 45_000; // 15 s left: within the 20 s skew
    const renewed = await sdk.session();
    expect(renewed).not.toBe(first);
    expect(collector.collected).toBe(2);
    expect((await sdk.credentials(api)).credential).toEqual({ kind: 'token', token: API_KEY });
  });

  it.each([
    ['no_server_workload', 'unknown.example.com'],
    ['no_matching_policy', 'nopolicy.example.com'],
    ['trust_provider_mismatch', 'strict.example.com'],
    ['condition_failed', 'closed.example.com'],
    ['credential_provider_error', 'broken.example.com'],
  ] as const)('surfaces the deny reason %s as TesseraAccessDeniedError', async (code, host) => {
    const error = await rejection(client().credentials({ scheme: 'https', host, port: 443 }));
    expect(error).toBeInstanceOf(TesseraAccessDeniedError);
    expect(error).toBeInstanceOf(TesseraError);
    expect(error.code).toBe(code);
    expect(error.message).toContain(host);
    if (code === 'condition_failed') expect(error.details.condition).toMatchObject({ name: 'office-hours', type: 'time-window' });
  });

  it.each([
    ['no_client_workload', { subject: 'stranger' }],
    ['ambiguous_client_workload', { subject: 'svc-twin' }],
    ['evidence_expired', { subject: 'svc-payments', lifetimeSeconds: -300 }],
    ['unsupported_evidence', { subject: 'svc-payments', evidenceType: 'spiffe-jwt' }],
  ] as const)('refuses the attestation with %s', async (code, options) => {
    const error = await rejection(client(options).credentials(api));
    expect(error).toBeInstanceOf(TesseraAccessDeniedError);
    expect(error.code).toBe(code);
  });

  it('attests into the resource set it names, and only there', async () => {
    expect((await client().session()).clientWorkload.name).toBe('payments');
    expect((await client(undefined, { resourceSet: 'team-b' }).session()).clientWorkload.name).toBe('b-payments');
    const unknown = await rejection(client(undefined, { resourceSet: 'team-c' }).session());
    expect(unknown).toBeInstanceOf(TesseraAccessDeniedError);
    expect(unknown.code).toBe('unsupported_evidence');
    expect(() => client(undefined, { resourceSet: 'team b' })).toThrow(TesseraConfigurationError);
  });

  it('refuses evidence signed by an unknown key with evidence_invalid', async () => {
    const sdk = client([testCollector(rogueIdp, { subject: 'svc-payments' })]);
    const error = await rejection(sdk.session());
    expect(error).toBeInstanceOf(TesseraAccessDeniedError);
    expect(error.code).toBe('evidence_invalid');
  });

  it("'auto' picks the first collector, in registry order, that detects", async () => {
    const absent = defineEvidenceCollector({ specificationVersion: 'v1', type: 'absent', evidenceType: 'jwt', detect: async () => false, collect: async () => expect.fail('not detected') });
    const registry = createProviderRegistry({ builtins: false }).registerEvidenceCollector(absent);
    const none = client('auto', { registry });
    const error = await rejection(none.session());
    expect(error).toBeInstanceOf(TesseraConfigurationError);
    expect(error.code).toBe('no_evidence_collector');
    registry.registerEvidenceCollector(testCollector(idp, { subject: 'svc-payments' }));
    expect((await client('auto', { registry }).session()).collector).toBe('test-oidc');
  });

  it('takes a list that mixes built-in collector names and collector objects', async () => {
    // No Kubernetes token is mounted here: the built-in collector is asked, says no, and the next one runs.
    const sdk = client(['kubernetes-service-account', testCollector(idp, { subject: 'svc-payments' })], {});
    expect((await sdk.session()).collector).toBe('test-oidc');
  });

  it('stops at a collector whose package is not installed, with missing_dependency naming the npm install', async () => {
    const needsPackage = defineEvidenceCollector({
      specificationVersion: 'v1',
      type: 'needs-package',
      evidenceType: 'jwt',
      detect: async () => true,
      async collect() {
        await loadOptionalDependency('@tessera-test/not-installed', { feature: 'the needs-package collector', install: ['@tessera-test/not-installed'] });
        return expect.fail('the package is not installed');
      },
    });
    const error = await rejection(client([needsPackage]).session());
    expect(error).toBeInstanceOf(TesseraConfigurationError);
    expect(error.code).toBe('missing_dependency');
    expect(error.message).toBe('the needs-package collector needs @tessera-test/not-installed, which is not installed: npm install @tessera-test/not-installed');
  });

  it('refuses invalid options at construction', () => {
    expect(() => client('auto', { cloudUrl: 'ftp://cloud.test' })).toThrow(TesseraConfigurationError);
    expect(() => client(['no-such-collector'])).toThrow(/unknown evidence collector "no-such-collector"/);
    expect(() => client('auto', { skewSeconds: -1 })).toThrow(TesseraConfigurationError);
  });
});

describe('EdgeClient when the cloud misbehaves', () => {
  it('retries 503 with a fresh proof each time, then succeeds', async () => {
    const sdk = client();
    await sdk.session();
    const before = proxy.count('/edge/v1/credentials');
    proxy.faults.push({ status: 503 }, { status: 503 });
    expect((await sdk.credentials(api)).credential.kind).toBe('token'); // a reused proof would be refused as a replay
    expect(proxy.count('/edge/v1/credentials')).toBe(before + 3);
  });

  it("honours 429's Retry-After", async () => {
    const waits: number[] = [];
    const sdk = client({ subject: 'svc-payments' }, { retry: { sleep: async (ms) => void waits.push(ms) } });
    proxy.faults.push({ status: 429, headers: { 'retry-after': '2' } });
    await sdk.session();
    expect(waits).toEqual([2000]);
  });

  it('fails fast on a 400', async () => {
    const sdk = client();
    await sdk.session();
    const before = proxy.count('/edge/v1/credentials');
    proxy.faults.push({ status: 400, body: { code: 'invalid_request', message: 'body/target/host must match pattern' } });
    const error = await rejection(sdk.credentials(api));
    expect(error).toBeInstanceOf(TesseraCloudError);
    expect(error).toMatchObject({ code: 'cloud_error', status: 400, cloudCode: 'invalid_request' });
    expect(proxy.count('/edge/v1/credentials')).toBe(before + 1);
  });

  it('gives up at the deadline with TesseraUnavailableError', async () => {
    const sdk = client({ subject: 'svc-payments' }, { deadlineMs: 300 });
    proxy.always = { status: 503 };
    const started = Date.now();
    try {
      const error = await rejection(sdk.credentials(api));
      expect(error).toBeInstanceOf(TesseraUnavailableError);
      expect(error.code).toBe('cloud_unavailable');
      expect(error.message).toMatch(/POST http:\/\/127\.0\.0\.1:\d+\/edge\/v1\/attest failed \d+ times over 0\.\d s .*HTTP 503/);
      expect(Date.now() - started).toBeLessThan(1500);
    } finally {
      proxy.always = undefined;
    }
  });

  it('fails quickly with TesseraUnavailableError when nothing listens', async () => {
    const sdk = client({ subject: 'svc-payments' }, { cloudUrl: `http://127.0.0.1:${closedPort}`, deadlineMs: 250 });
    const started = Date.now();
    const error = await rejection(sdk.credentials(api));
    expect(error).toBeInstanceOf(TesseraUnavailableError);
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.cause).toBeDefined();
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('re-attests from scratch when the cloud no longer accepts its edge token', async () => {
    // A new control plane (new store, new signing keys) behind the same URL, as after a rebuild:
    // tokens of the old one are refused with invalid_edge_token.
    const sdk = client();
    await sdk.credentials(api);
    const replacement = await startTestCloud(proxy.url);
    const attests = proxy.count('/edge/v1/attest');
    try {
      await configure(replacement);
      proxy.upstream = replacement.server.listeningUrl;
      expect((await sdk.credentials(api)).credential).toEqual({ kind: 'token', token: API_KEY });
      expect(proxy.count('/edge/v1/attest')).toBe(attests + 1);
      expect(logLines.some((line) => line.includes('rejected the edge token') && line.includes('invalid_edge_token'))).toBe(true);
    } finally {
      proxy.upstream = cloud.server.listeningUrl;
      await replacement.close();
    }
  });
});

describe('request metrics', () => {
  it('reports counts the cloud stores exactly once, however often a report is sent, and learns the interval', async () => {
    const sdk = client();
    const session = await sdk.session();
    expect(session.reportIntervalSeconds).toBe(10);
    const counted = async () => {
      const stored = await cloud.admin('GET', `/api/v1/request-metrics?clientWorkloadId=${session.clientWorkload.id}&limit=500`);
      return (stored.items as Array<{ requests: number }>).reduce((sum, row) => sum + row.requests, 0);
    };
    const before = await counted();
    const entry = session.directory.find((each) => each.host === api.host)!;
    // Every answer is lost once: the report goes again under its id, and counts once.
    const sent: string[] = [];
    const metrics = new RequestMetrics({
      flushIntervalMs: 0,
      logger,
      sender: {
        sendMetrics: async (report) => {
          const answer = await sdk.sendMetrics(report);
          sent.push(report.reportId);
          if (sent.filter((id) => id === report.reportId).length === 1) throw new TesseraUnavailableError('the answer was lost');
          return answer;
        },
      },
    });
    for (let i = 0; i < 5; i += 1) metrics.record(entry.serverWorkloadId, entry, 'allow', 200, undefined, 3);
    metrics.record(undefined, { scheme: 'https', host: 'elsewhere.example.org', port: 443 }, 'error', undefined, 'cloud_unavailable', 0);
    await metrics.flush();
    await metrics.flush();
    for (let i = 0; i < 3; i += 1) metrics.record(entry.serverWorkloadId, entry, 'deny', undefined, 'condition_failed', 1);
    await metrics.flush();
    await metrics.close();
    expect(sent).toHaveLength(4);
    expect(await counted()).toBe(before + 9);
    expect(metrics.dropped).toBe(0);
  });
});

describe('secrets', () => {
  it('never appear in a log line, an error or a printed session', () => {
    const secrets = [API_KEY, 'oauth-client-secret-value', ...idp.minted, ...rogueIdp.minted, ...proxy.edgeTokens];
    expect(proxy.edgeTokens.length).toBeGreaterThan(5);
    expect(logLines.length).toBeGreaterThan(5);
    const text = [...logLines, ...observed].join('\n');
    for (const secret of secrets) expect(text.includes(secret), `a secret of ${secret.length} characters leaked`).toBe(false);
  });
});
