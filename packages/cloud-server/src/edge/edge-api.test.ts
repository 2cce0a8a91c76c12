import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../../test/support/store-backends.js';
import { create, createTestApp, type TestApp } from '../../test/support/app-harness.js';
import { EdgeTestClient, type Send } from '../../test/support/edge-client.js';

const ISSUER = 'https://tessera.test';

/** A report of one successful request to api.example.com. */
const report = () => ({
  reportId: randomUUID(),
  series: [{ target: { scheme: 'https', host: 'api.example.com', port: 443 }, outcome: 'allow', statusClass: '2xx', requests: 1, latencyMsSum: 1, latencyBuckets: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] }],
});

/** A time-window that excludes now: it opens 12 hours from now (UTC) for one minute. */
function closedWindow() {
  const at = new Date(Date.now() + 12 * 3600_000);
  const hhmm = (d: Date) => `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
  return { timeZone: 'UTC', start: hhmm(at), end: hhmm(new Date(at.getTime() + 60_000)) };
}

describe.each(BACKENDS)('edge API ($name)', (backend) => {
  let t: TestApp;
  let send: Send;
  let ids: Record<string, string>;
  const apiKey = 'sk_live_edge_test_value_9d1e';

  beforeAll(async () => {
    t = await createTestApp(backend);
    send = async (method, path, headers, body) => {
      const response = await t.app.inject({ method: method as 'POST', url: path, headers, payload: body as object });
      return { status: response.statusCode, body: response.body ? JSON.parse(response.body) : undefined };
    };
    const client = await create(t, 'client-workloads', { name: 'payments', identities: [{ claim: 'fixture.subject', value: 'svc-*' }] });
    const trust = await create(t, 'trust-providers', { name: 'fixture', type: 'fixture-static', config: { subjects: ['svc-a', 'other'] } });
    const otherTrust = await create(t, 'trust-providers', { name: 'unused', type: 'fixture-static', config: { subjects: ['nobody'] } });
    const injection = { kind: 'header', name: 'authorization' };
    const api = await create(t, 'server-workloads', { name: 'api', host: 'api.example.com', port: 443, scheme: 'https', injection });
    const apiV2 = await create(t, 'server-workloads', { name: 'api-v2', host: 'api.example.com', port: 443, scheme: 'https', pathPrefix: '/v2', injection: { kind: 'query', name: 'key' } });
    const wildcard = await create(t, 'server-workloads', { name: 'buckets', host: '*.storage.example.com', port: 443, scheme: 'https', injection });
    const noPolicy = await create(t, 'server-workloads', { name: 'no-policy', host: 'nopolicy.example.com', port: 443, scheme: 'https', injection });
    const strict = await create(t, 'server-workloads', { name: 'strict', host: 'strict.example.com', port: 443, scheme: 'https', injection });
    const closed = await create(t, 'server-workloads', { name: 'closed', host: 'closed.example.com', port: 443, scheme: 'https', injection });
    const broken = await create(t, 'server-workloads', { name: 'broken', host: 'broken.example.com', port: 443, scheme: 'https', injection });
    const key = await create(t, 'credential-providers', { name: 'key', type: 'api-key', secrets: { apiKey } });
    const basic = await create(t, 'credential-providers', { name: 'basic', type: 'basic', config: { username: 'svc' }, secrets: { password: 'pw-edge-secret' } });
    const failing = await create(t, 'credential-providers', { name: 'failing', type: 'fixture-failing' });
    const malformed = await create(t, 'credential-providers', { name: 'malformed', type: 'fixture-malformed' });
    const buggy = await create(t, 'server-workloads', { name: 'buggy', host: 'buggy.example.com', port: 443, scheme: 'https', injection });
    const window = await create(t, 'access-conditions', { name: 'office-hours', type: 'time-window', config: closedWindow() });
    const policy = (name: string, serverWorkloadId: string, credentialProviderId: string, extra: Record<string, unknown> = {}) =>
      create(t, 'access-policies', { name, clientWorkloadIds: [client.id], serverWorkloadId, trustProviderIds: [trust.id], credentialProviderId, ...extra });
    await policy('api', api.id, key.id);
    await policy('api-v2', apiV2.id, basic.id);
    await policy('buckets', wildcard.id, key.id);
    await policy('strict', strict.id, key.id, { trustProviderIds: [otherTrust.id] });
    await policy('closed', closed.id, key.id, { accessConditionIds: [window.id] });
    await policy('broken', broken.id, failing.id);
    await policy('buggy', buggy.id, malformed.id);
    ids = { client: client.id, api: api.id, apiV2: apiV2.id, noPolicy: noPolicy.id, window: window.id };
  });
  afterAll(async () => {
    await t.close();
  });
  /** Requests counted in the request metrics that match `filter` (a query string). */
  const requestsOf = async (filter: string) =>
    ((await t.call('GET', `/api/v1/request-metrics?${filter}&limit=500`)).body.items as Array<{ requests: number }>).reduce((sum, row) => sum + row.requests, 0);

  it('attests with a DPoP-bound edge token and the directory of reachable targets', async () => {
    const sdk = await EdgeTestClient.create(ISSUER, send);
    const attested = await sdk.attest({ type: 'fixture', subject: 'svc-a' });
    expect(attested.status, JSON.stringify(attested.body)).toBe(200);
    expect(attested.body).toMatchObject({ tokenType: 'DPoP', clientWorkload: { id: ids.client, name: 'payments' } });
    const names = attested.body.directory.map((d: { name: string }) => d.name).sort();
    expect(names).toEqual(['api', 'api-v2', 'broken', 'buckets', 'buggy', 'closed', 'strict']);
    expect(JSON.stringify(attested.body)).not.toContain(apiKey);
    const lifetime = Date.parse(attested.body.expiresAt) - Date.now();
    expect(lifetime).toBeGreaterThan(14 * 60_000);
    expect(lifetime).toBeLessThanOrEqual(15 * 60_000);
  });

  it('issues credentials for allowed targets: exact host, longest path prefix, wildcard', async () => {
    const sdk = await EdgeTestClient.create(ISSUER, send);
    await sdk.attest({ type: 'fixture', subject: 'svc-a' });
    const plain = await sdk.credentials({ scheme: 'https', host: 'API.example.com', port: 443, path: '/v1/charges' });
    expect(plain.status, JSON.stringify(plain.body)).toBe(200);
    expect(plain.body).toMatchObject({ credential: { kind: 'token', token: apiKey }, injection: { kind: 'header', name: 'authorization', format: 'Bearer {token}' }, serverWorkloadId: ids.api });
    const v2 = await sdk.credentials({ scheme: 'https', host: 'api.example.com', port: 443, path: '/v2/charges' });
    expect(v2.body).toMatchObject({ credential: { kind: 'basic', username: 'svc', password: 'pw-edge-secret' }, serverWorkloadId: ids.apiV2 });
    const v20 = await sdk.credentials({ scheme: 'https', host: 'api.example.com', port: 443, path: '/v20' });
    expect(v20.body.serverWorkloadId).toBe(ids.api);
    const bucket = await sdk.credentials({ scheme: 'https', host: 'logs.storage.example.com', port: 443, path: '/' });
    expect(bucket.status).toBe(200);
    const deep = await sdk.credentials({ scheme: 'https', host: 'a.logs.storage.example.com', port: 443, path: '/' });
    expect(deep.body.code).toBe('no_server_workload');
  });

  it.each([
    ['no_server_workload', { host: 'unknown.example.com' }],
    ['no_server_workload', { host: 'api.example.com', port: 8443 }],
    ['no_server_workload', { host: 'api.example.com', scheme: 'http' }],
    ['no_matching_policy', { host: 'nopolicy.example.com' }],
    ['trust_provider_mismatch', { host: 'strict.example.com' }],
    ['condition_failed', { host: 'closed.example.com' }],
    ['credential_provider_error', { host: 'broken.example.com' }],
    ['credential_provider_error', { host: 'buggy.example.com' }],
  ] as const)('denies with %s', async (code, override) => {
    const sdk = await EdgeTestClient.create(ISSUER, send);
    await sdk.attest({ type: 'fixture', subject: 'svc-a' });
    const denied = await sdk.credentials({ scheme: 'https', port: 443, path: '/', ...override });
    expect(denied.status).toBe(403);
    expect(denied.body.code).toBe(code);
    expect(JSON.stringify(denied.body)).not.toContain(apiKey);
    expect(JSON.stringify(denied.body)).not.toContain('tok_malformed_value');
    if (code === 'condition_failed') {
      expect(denied.body.details.condition).toMatchObject({ id: ids.window, name: 'office-hours', type: 'time-window' });
    }
  });

  it('refuses evidence that does not verify or matches no workload', async () => {
    const sdk = await EdgeTestClient.create(ISSUER, send);
    expect((await sdk.attest({ type: 'fixture', subject: 'intruder' })).body.code).toBe('evidence_invalid');
    expect((await sdk.attest({ type: 'fixture', subject: 'other' })).body.code).toBe('no_client_workload');
    expect((await sdk.attest({ type: 'unheard-of' })).body.code).toBe('unsupported_evidence');
  });

  it('issues single-use nonces bound to the proof key that asked for them', async () => {
    const sdk = await EdgeTestClient.create(ISSUER, send);
    const challenge = await sdk.challenge();
    expect(challenge.status).toBe(200);
    expect(Date.parse(challenge.body.expiresAt) - Date.now()).toBeGreaterThan(200_000);
    const nonce = challenge.body.nonce as string;
    // Accepted once, by an attestation proven with the same key ...
    expect((await sdk.attest({ type: 'fixture', subject: 'svc-a', nonce })).status).toBe(200);
    expect((await sdk.attest({ type: 'fixture', subject: 'svc-a', nonce })).body.code).toBe('evidence_invalid');
    // ... never by another SDK that copied it, nor when forged or malformed.
    const other = await EdgeTestClient.create(ISSUER, send);
    const copied = (await sdk.challenge()).body.nonce as string;
    expect((await other.attest({ type: 'fixture', subject: 'svc-a', nonce: copied })).body.code).toBe('evidence_invalid');
    expect((await sdk.attest({ type: 'fixture', subject: 'svc-a', nonce: `${copied.slice(0, -4)}AAAA` })).body.code).toBe('evidence_invalid');
    expect((await sdk.attest({ type: 'fixture', subject: 'svc-a', nonce: 'not-a-nonce' })).body.code).toBe('evidence_invalid');
    expect((await sdk.attest({ type: 'fixture', subject: 'svc-a', nonce: copied })).status).toBe(200); // still unused by its owner
    // A challenge needs a valid proof, and a body of nothing but {}.
    expect((await send('POST', '/edge/v1/challenge', {}, {})).body.code).toBe('invalid_dpop_proof');
    const replayed = await sdk.proof('POST', '/edge/v1/challenge');
    expect((await sdk.challenge({ proof: replayed })).status).toBe(200);
    expect((await sdk.challenge({ proof: replayed })).body.code).toBe('dpop_replay');
    const extra = await send('POST', '/edge/v1/challenge', { dpop: await sdk.proof('POST', '/edge/v1/challenge') }, { nonce: 'x' });
    expect(extra.status).toBe(400);
  });

  it('refuses missing, replayed, stale and foreign proofs, and tokens bound to another key', async () => {
    const sdk = await EdgeTestClient.create(ISSUER, send);
    await sdk.attest({ type: 'fixture', subject: 'svc-a' });
    const target = { scheme: 'https', host: 'api.example.com', port: 443 };
    const token = sdk.edgeToken!;
    const proof = await sdk.proof('POST', '/edge/v1/credentials', { token });
    expect((await sdk.credentials(target, { proof })).status).toBe(200);
    const replay = await sdk.credentials(target, { proof });
    expect(replay.body.code).toBe('dpop_replay');
    const stale = await sdk.proof('POST', '/edge/v1/credentials', { token, iat: Math.floor(Date.now() / 1000) - 600 });
    expect((await sdk.credentials(target, { proof: stale })).body.code).toBe('invalid_dpop_proof');
    const wrongUrl = await sdk.proof('POST', '/edge/v1/credentials', { token, htu: 'https://evil.test/edge/v1/credentials' });
    expect((await sdk.credentials(target, { proof: wrongUrl })).body.code).toBe('invalid_dpop_proof');
    const unbound = await sdk.proof('POST', '/edge/v1/credentials');
    expect((await sdk.credentials(target, { proof: unbound })).body.code).toBe('invalid_dpop_proof');
    // A stolen token is useless with the thief's own key.
    const thief = await EdgeTestClient.create(ISSUER, send);
    const stolen = await thief.credentials(target, { token });
    expect(stolen.status).toBe(401);
    expect(stolen.body.code).toBe('invalid_dpop_proof');
    const forged = await sdk.credentials(target, { token: `${token.slice(0, -4)}AAAA` });
    expect(forged.body.code).toBe('invalid_edge_token');
    const noProof = await send('POST', '/edge/v1/credentials', { authorization: `DPoP ${token}` }, { target });
    expect(noProof.body.code).toBe('invalid_dpop_proof');
    const noToken = await send('POST', '/edge/v1/credentials', {}, { target });
    expect(noToken.body.code).toBe('invalid_edge_token');
  });

  it('takes the DPoP scheme in any case (RFC 9110) on every edge-token route', async () => {
    const sdk = await EdgeTestClient.create(ISSUER, send);
    await sdk.attest({ type: 'fixture', subject: 'svc-a' });
    const token = sdk.edgeToken!;
    const target = { scheme: 'https', host: 'api.example.com', port: 443 };
    const event = { time: new Date().toISOString(), target, outcome: 'allow', statusClass: '2xx', latencyMs: 1 };
    for (const scheme of ['dpop', 'DPOP', 'dPoP', 'DPoP ']) {
      const authorization = `${scheme} ${token}`;
      const credentials = await send('POST', '/edge/v1/credentials', { authorization, dpop: await sdk.proof('POST', '/edge/v1/credentials', { token }) }, { target });
      expect(credentials.status, `${scheme}: ${JSON.stringify(credentials.body)}`).toBe(200);
      const events = await send('POST', '/edge/v1/events', { authorization, dpop: await sdk.proof('POST', '/edge/v1/events', { token }) }, { events: [event] });
      expect(events.status, `${scheme}: ${JSON.stringify(events.body)}`).toBe(202);
      const metrics = await send('POST', '/edge/v1/metrics', { authorization, dpop: await sdk.proof('POST', '/edge/v1/metrics', { token }) }, report());
      expect(metrics.status, `${scheme}: ${JSON.stringify(metrics.body)}`).toBe(200);
    }
  });

  it('refuses, on every edge-token route, a token whose client workload was disabled or deleted since', async () => {
    const client = await create(t, 'client-workloads', { name: 'short-lived', identities: [{ claim: 'fixture.subject', value: 'temp-short' }] });
    const trust = (await t.call('GET', '/api/v1/trust-providers?name=fixture')).body.items[0];
    await t.call('PATCH', `/api/v1/trust-providers/${trust.id}`, { body: { config: { subjects: ['svc-a', 'other', 'temp-short'] } } });
    const target = { scheme: 'https', host: 'api.example.com', port: 443 };
    const event = { time: new Date().toISOString(), target, outcome: 'allow', statusClass: '2xx', latencyMs: 1 };
    const routes = async (sdk: EdgeTestClient) => [(await sdk.credentials(target)).body.code, (await sdk.events([event])).body.code, (await sdk.metrics(report())).body.code];
    const sdk = await EdgeTestClient.create(ISSUER, send);
    expect((await sdk.attest({ type: 'fixture', subject: 'temp-short' })).body.clientWorkload.id).toBe(client.id);
    expect((await sdk.events([event])).status).toBe(202);
    await t.call('PATCH', `/api/v1/client-workloads/${client.id}`, { body: { enabled: false } });
    expect(await routes(sdk)).toEqual(['invalid_edge_token', 'invalid_edge_token', 'invalid_edge_token']);
    await t.call('PATCH', `/api/v1/client-workloads/${client.id}`, { body: { enabled: true } });
    expect((await sdk.events([event])).status).toBe(202);
    expect((await t.call('DELETE', `/api/v1/client-workloads/${client.id}`)).status).toBe(204);
    expect(await routes(sdk)).toEqual(['invalid_edge_token', 'invalid_edge_token', 'invalid_edge_token']);
    await t.call('PATCH', `/api/v1/trust-providers/${trust.id}`, { body: { config: { subjects: ['svc-a', 'other'] } } });
  });

  it('answers deeply nested bodies with 400 json_too_deep on every edge route, and keeps serving', async () => {
    const sdk = await EdgeTestClient.create(ISSUER, send);
    await sdk.attest({ type: 'fixture', subject: 'svc-a' });
    const token = sdk.edgeToken!;
    const deep = (open: string, close: string, depth: number) => `${open.repeat(depth)}1${close.repeat(depth)}`;
    const bodies = [
      ['/edge/v1/credentials', deep('[', ']', 200_000)],
      ['/edge/v1/credentials', `{"target":${deep('{"":', '}', 200_000)}}`],
      ['/edge/v1/events', `{"events":${deep('[', ']', 100_000)}}`],
      ['/edge/v1/metrics', `{"reportId":"${randomUUID()}","series":${deep('[', ']', 100_000)}}`],
      ['/edge/v1/attest', `{"evidence":{"type":"fixture","subject":"svc-a","x":${deep('{"":', '}', 12_000)}}}`],
      ['/edge/v1/attest', `{"evidence":{"type":"fixture","subject":"svc-a","x":${deep('[', ']', 30_000)}}}`],
    ] as const;
    for (const [path, body] of bodies) {
      const withToken = path === '/edge/v1/attest' ? {} : { authorization: `DPoP ${token}` };
      const response = await t.app.inject({
        method: 'POST',
        url: path,
        headers: { ...withToken, dpop: await sdk.proof('POST', path, path === '/edge/v1/attest' ? {} : { token }), 'content-type': 'application/json' },
        payload: body,
      });
      expect(response.statusCode, `${path}: ${response.body.slice(0, 200)}`).toBe(400);
      expect(JSON.parse(response.body)).toMatchObject({ code: 'json_too_deep' });
    }
    expect((await sdk.credentials({ scheme: 'https', host: 'api.example.com', port: 443 })).status).toBe(200);
  });

  it('audits every decision with its reason and never the credential', async () => {
    const sdk = await EdgeTestClient.create(ISSUER, send);
    await sdk.attest({ type: 'fixture', subject: 'svc-a' });
    await sdk.credentials({ scheme: 'https', host: 'api.example.com', port: 443, path: '/audited' });
    await sdk.credentials({ scheme: 'https', host: 'closed.example.com', port: 443, path: '/audited' });
    await sdk.credentials({ scheme: 'https', host: 'broken.example.com', port: 443, path: '/audited' });
    const events = await t.call('GET', `/api/v1/audit-events?kind=edge.credential&clientWorkloadId=${ids.client}&limit=500`);
    const mine = events.body.items.filter((e: { data: { target: { path: string } } }) => e.data.target.path === '/audited');
    expect(mine.map((e: { outcome: string; reason: string | null }) => [e.outcome, e.reason])).toEqual([
      ['error', 'credential_provider_error'],
      ['deny', 'condition_failed'],
      ['allow', null],
    ]);
    expect(mine[1].data.conditions).toEqual([expect.objectContaining({ id: ids.window, passed: false })]);
    expect(mine[2]).toMatchObject({ serverWorkloadId: ids.api, data: { credentialKind: 'token', sourceIp: expect.any(String) } });
    expect(events.raw).not.toContain(apiKey);
    const attests = await t.call('GET', '/api/v1/audit-events?kind=edge.attest');
    expect(attests.body.items.some((e: { outcome: string }) => e.outcome === 'allow')).toBe(true);
  });

  it('sees an admin change on the very next decision', async () => {
    const sdk = await EdgeTestClient.create(ISSUER, send);
    await sdk.attest({ type: 'fixture', subject: 'svc-a' });
    const target = { scheme: 'https', host: 'nopolicy.example.com', port: 443 };
    expect((await sdk.credentials(target)).body.code).toBe('no_matching_policy');
    const trust = (await t.call('GET', '/api/v1/trust-providers?name=fixture')).body.items[0];
    const key = (await t.call('GET', '/api/v1/credential-providers?name=key')).body.items[0];
    const created = await create(t, 'access-policies', { name: 'late', clientWorkloadIds: [ids.client], serverWorkloadId: ids.noPolicy, trustProviderIds: [trust.id], credentialProviderId: key.id });
    expect((await sdk.credentials(target)).status).toBe(200);
    await t.call('PATCH', `/api/v1/access-policies/${created.id}`, { body: { enabled: false } });
    expect((await sdk.credentials(target)).body.code).toBe('no_matching_policy');
  });

  it('takes the deprecated edge events of older SDKs into request metrics, bounded and validated', async () => {
    const sdk = await EdgeTestClient.create(ISSUER, send);
    await sdk.attest({ type: 'fixture', subject: 'svc-a' });
    const before = await requestsOf(`clientWorkloadId=${ids.client}`);
    const event = { time: new Date().toISOString(), target: { scheme: 'https', host: 'api.example.com', port: 443, path: '/v1' }, outcome: 'allow', statusClass: '2xx', latencyMs: 12.5 };
    const accepted = await sdk.events([event, { ...event, outcome: 'deny', statusClass: null, reason: 'no_matching_policy' }]);
    expect(accepted.status).toBe(202);
    expect(accepted.body).toEqual({ accepted: 2 });
    expect((await sdk.events([])).status).toBe(400);
    expect((await sdk.events(Array.from({ length: 501 }, () => event))).status).toBe(400);
    expect((await sdk.events([{ ...event, latencyMs: -1 }])).status).toBe(400);
    expect((await sdk.events([{ ...event, extra: 1 }])).status).toBe(400);
    expect(await requestsOf(`clientWorkloadId=${ids.client}`)).toBe(before + 2);
    expect((await t.call('GET', `/api/v1/audit-events?kind=edge.request`)).body.items).toEqual([]);
  });

  it('names the server workload each reported event went to, as a credentials call would resolve it', async () => {
    const sdk = await EdgeTestClient.create(ISSUER, send);
    await sdk.attest({ type: 'fixture', subject: 'svc-a' });
    const at = (host: string, path?: string) => ({
      time: new Date().toISOString(),
      target: { scheme: 'https', host, port: 443, ...(path === undefined ? {} : { path }) },
      outcome: 'error',
      statusClass: null,
      reason: 'resolved_here',
      latencyMs: 3,
    });
    // Host case does not matter; the longest path prefix wins; no path is `/`; an unknown host names none.
    expect((await sdk.events([at('API.example.com', '/v2/refunds'), at('api.example.com'), at('unknown.example.org', '/x')])).status).toBe(202);
    const stored = (await t.call('GET', `/api/v1/request-metrics?clientWorkloadId=${ids.client}&outcome=error&limit=500`)).body.items.filter((row: { reason: string }) => row.reason === 'resolved_here');
    const byServer = Object.fromEntries(stored.map((row: { serverWorkloadId: string | null; target: string; requests: number }) => [`${row.serverWorkloadId} ${row.target}`, row.requests]));
    expect(byServer).toEqual({ [`${ids.apiV2} https://api.example.com:443`]: 1, [`${ids.api} https://api.example.com:443`]: 1, 'null https://unknown.example.org:443': 1 });
  });
});

describe('edge API behind a trusted proxy', () => {
  it('evaluates source-ip conditions on the forwarded address only when the proxy is trusted', async () => {
    const t = await createTestApp(BACKENDS[0]!, { trustedProxies: ['127.0.0.1'] });
    try {
      const client = await create(t, 'client-workloads', { name: 'c', identities: [{ claim: 'fixture.subject', value: 'svc-a' }] });
      const trust = await create(t, 'trust-providers', { name: 't', type: 'fixture-static', config: { subjects: ['svc-a'] } });
      const server = await create(t, 'server-workloads', { name: 's', host: 'office.example.com', port: 443, scheme: 'https', injection: { kind: 'basic' } });
      const credential = await create(t, 'credential-providers', { name: 'k', type: 'api-key', secrets: { apiKey: 'sk_proxy_test' } });
      const office = await create(t, 'access-conditions', { name: 'office', type: 'source-ip', config: { allow: ['198.51.100.0/24'] } });
      await create(t, 'access-policies', { name: 'p', clientWorkloadIds: [client.id], serverWorkloadId: server.id, trustProviderIds: [trust.id], accessConditionIds: [office.id], credentialProviderId: credential.id });
      const sendFrom = (forwardedFor?: string): Send => async (method, path, headers, body) => {
        const response = await t.app.inject({ method: method as 'POST', url: path, headers: { ...headers, ...(forwardedFor ? { 'x-forwarded-for': forwardedFor } : {}) }, payload: body as object, remoteAddress: '127.0.0.1' });
        return { status: response.statusCode, body: JSON.parse(response.body) };
      };
      const target = { scheme: 'https', host: 'office.example.com', port: 443 };
      const inOffice = await EdgeTestClient.create(ISSUER, sendFrom('198.51.100.7'));
      await inOffice.attest({ type: 'fixture', subject: 'svc-a' });
      expect((await inOffice.credentials(target)).status).toBe(200);
      const direct = await EdgeTestClient.create(ISSUER, sendFrom());
      await direct.attest({ type: 'fixture', subject: 'svc-a' });
      expect((await direct.credentials(target)).body.code).toBe('condition_failed');
      const spoofed = await EdgeTestClient.create(ISSUER, sendFrom('198.51.100.7, 203.0.113.5'));
      await spoofed.attest({ type: 'fixture', subject: 'svc-a' });
      expect((await spoofed.credentials(target)).body.code).toBe('condition_failed');
    } finally {
      await t.close();
    }
  });
});

describe('edge API with small replay caches', () => {
  it('refuses new proofs and nonces with 503 and Retry-After when full, and never accepts a replay', async () => {
    const t = await createTestApp(BACKENDS[0]!, { app: { replayCacheSizes: { proofs: 5, nonces: 1 } } });
    try {
      await create(t, 'client-workloads', { name: 'c', identities: [{ claim: 'fixture.subject', value: 'svc-a' }] });
      await create(t, 'trust-providers', { name: 't', type: 'fixture-static', config: { subjects: ['svc-a'] } });
      const send: Send = async (method, path, headers, body) => {
        const response = await t.app.inject({ method: method as 'POST', url: path, headers, payload: body as object });
        return { status: response.statusCode, body: { ...JSON.parse(response.body), retryAfter: response.headers['retry-after'] } };
      };
      const sdk = await EdgeTestClient.create(ISSUER, send);
      const first = (await sdk.challenge()).body.nonce as string;
      const second = (await sdk.challenge()).body.nonce as string;
      expect((await sdk.attest({ type: 'fixture', subject: 'svc-a', nonce: first })).status).toBe(200);
      // The nonce cache holds one used nonce: the next one is refused for now, not judged invalid ...
      const busy = await sdk.attest({ type: 'fixture', subject: 'svc-a', nonce: second });
      expect(busy.status).toBe(503);
      expect(busy.body).toMatchObject({ code: 'replay_cache_full', retryAfter: '300' });
      // ... and the used one is still refused.
      expect((await sdk.attest({ type: 'fixture', subject: 'svc-a', nonce: first })).body.code).toBe('evidence_invalid');
      // Five proofs taken: the sixth is refused, as is a replay of an earlier one.
      const full = await sdk.challenge();
      expect(full.status).toBe(503);
      expect(full.body).toMatchObject({ code: 'replay_cache_full', retryAfter: '120' });
      const attests = await t.call('GET', '/api/v1/audit-events?kind=edge.attest');
      expect(attests.body.items.map((e: { outcome: string; reason: string }) => `${e.outcome} ${e.reason}`)).toEqual([
        'deny evidence_invalid',
        'error replay_cache_full',
        'allow null',
      ]);
    } finally {
      await t.close();
    }
  });
});
