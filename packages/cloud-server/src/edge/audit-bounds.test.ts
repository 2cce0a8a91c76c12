import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../../test/support/store-backends.js';
import { create, createTestApp, type TestApp } from '../../test/support/app-harness.js';
import { EdgeTestClient, type Send } from '../../test/support/edge-client.js';
import { auditAttest, auditCredential, MAX_AUDIT_MESSAGE_LENGTH } from './edge-audit.js';
import { EdgeError } from './errors.js';

/**
 * What a caller of the edge API — with no credential at all, or with an edge token — can make
 * the control plane write into its audit trail: every value is checked and bounded at the edge.
 */

const ISSUER = 'https://tessera.test';
const HOSTILE_INSTANCES = [
  ['15 KiB', 'x'.repeat(15 * 1024)],
  ['129 characters', 'x'.repeat(129)],
  ['a space', 'pod 1'],
  ['a control character', 'pod\u00071'],
  ['non-ASCII', 'pod-\u00e9'],
  ['empty', ''],
] as const;

describe('what edge callers can put into the audit trail', () => {
  let t: TestApp;
  const sendWith =
    (extra: Record<string, string>): Send =>
    async (method, path, headers, body) => {
      const response = await t.app.inject({ method: method as 'POST', url: path, headers: { ...headers, ...extra }, payload: body as object });
      return { status: response.statusCode, body: response.body ? JSON.parse(response.body) : undefined };
    };
  const send = sendWith({});
  /** Rows and bytes of the whole audit trail, read straight from the database. */
  const auditSize = async () => {
    const [row] = await t.harness.rawQuery('SELECT count(*) AS n, coalesce(sum(length(data)), 0) AS bytes FROM audit_events');
    return { rows: Number(row!.n), bytes: Number(row!.bytes) };
  };

  beforeAll(async () => {
    t = await createTestApp(BACKENDS[0]!);
    const client = await create(t, 'client-workloads', { name: 'c', identities: [{ claim: 'fixture.subject', value: 'svc-a' }] });
    const trust = await create(t, 'trust-providers', { name: 't', type: 'fixture-static', config: { subjects: ['svc-a'] } });
    const server = await create(t, 'server-workloads', { name: 's', host: 'api.example.com', port: 443, scheme: 'https', injection: { kind: 'basic' } });
    const credential = await create(t, 'credential-providers', { name: 'k', type: 'api-key', secrets: { apiKey: 'sk_bounds_test' } });
    await create(t, 'access-policies', { name: 'p', clientWorkloadIds: [client.id], serverWorkloadId: server.id, trustProviderIds: [trust.id], credentialProviderId: credential.id });
  });
  afterAll(async () => {
    await t.close();
  });

  it.each(HOSTILE_INSTANCES)('refuses a Tessera-Sdk-Instance header that is %s on every edge route, storing nothing', async (_what, instance) => {
    const sdk = await EdgeTestClient.create(ISSUER, send);
    expect((await sdk.attest({ type: 'fixture', subject: 'svc-a' })).status).toBe(200);
    const before = await auditSize();
    const hostile = await EdgeTestClient.create(ISSUER, sendWith({ 'tessera-sdk-instance': instance }));
    // No proof at all (the attack of the issue), and a valid attestation.
    const bare = await sendWith({ 'tessera-sdk-instance': instance })('POST', '/edge/v1/attest', {}, { evidence: { type: 'fixture' } });
    const answers = [
      bare,
      await hostile.attest({ type: 'fixture', subject: 'svc-a' }),
      await sendWith({ 'tessera-sdk-instance': instance })(
        'POST',
        '/edge/v1/credentials',
        { authorization: `DPoP ${sdk.edgeToken}`, dpop: await sdk.proof('POST', '/edge/v1/credentials', { token: sdk.edgeToken! }) },
        { target: { scheme: 'https', host: 'api.example.com', port: 443 } },
      ),
    ];
    for (const answer of answers) {
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ code: 'validation_failed', details: [{ path: '/headers/tessera-sdk-instance' }] });
      expect(JSON.stringify(answer.body).length).toBeLessThan(1000); // the value is not echoed
    }
    expect(await auditSize()).toEqual(before);
  });

  it('records a well-formed instance id as sent', async () => {
    const instance = 'billing-7f9c:4821/worker@eu-west-1';
    const sdk = await EdgeTestClient.create(ISSUER, sendWith({ 'tessera-sdk-instance': instance }));
    expect((await sdk.attest({ type: 'fixture', subject: 'svc-a' })).status).toBe(200);
    const events = (await t.call('GET', '/api/v1/audit-events?kind=edge.attest&limit=1')).body.items;
    expect(events[0].data.sdkInstance).toBe(instance);
  });

  it('records the target path without its query string, and refuses control characters in paths', async () => {
    const sdk = await EdgeTestClient.create(ISSUER, send);
    await sdk.attest({ type: 'fixture', subject: 'svc-a' });
    const target = { scheme: 'https', host: 'api.example.com', port: 443 };
    expect((await sdk.credentials({ ...target, path: '/v1/charges?api_key=sk_in_query#frag' })).status).toBe(200);
    const [event] = (await t.call('GET', '/api/v1/audit-events?kind=edge.credential&limit=1')).body.items;
    expect(event.data.target.path).toBe('/v1/charges');
    expect(JSON.stringify(event)).not.toContain('sk_in_query');
    const before = await auditSize();
    expect((await sdk.credentials({ ...target, path: '/v1/\r\nx' })).status).toBe(400);
    const event1 = { time: new Date().toISOString(), target, outcome: 'allow', statusClass: '2xx', latencyMs: 1 };
    expect((await sdk.events([{ ...event1, target: { ...target, path: '/v1/\u001b[2J' } }])).status).toBe(400);
    expect(await auditSize()).toEqual(before);
  });

  it('refuses an event time with a fraction of thousands of digits', async () => {
    const sdk = await EdgeTestClient.create(ISSUER, send);
    await sdk.attest({ type: 'fixture', subject: 'svc-a' });
    const before = await auditSize();
    const event = { time: `2030-01-01T00:00:00.${'1'.repeat(10_000)}Z`, target: { scheme: 'https', host: 'api.example.com', port: 443 }, outcome: 'allow', statusClass: '2xx', latencyMs: 1 };
    const answer = await sdk.events([event]);
    expect(answer.status).toBe(400);
    expect(answer.body.details[0].path).toBe('/body/events/0/time');
    expect(await auditSize()).toEqual(before);
  });

  it('bounds the refusal messages and condition reasons it records, whatever a provider wrote', () => {
    const long = new EdgeError('evidence_invalid', `The evidence did not verify: ${'issuer '.repeat(10_000)}`);
    const meta = { sourceIp: '203.0.113.9', sdkInstance: undefined };
    const attested = auditAttest(new Date(), meta, 'jwt', undefined, long);
    expect((attested.data.message as string).length).toBeLessThanOrEqual(MAX_AUDIT_MESSAGE_LENGTH);
    expect(attested.data.message).toMatch(/^The evidence did not verify: issuer .*…$/);
    const session = { clientWorkloadId: 'c', resourceSetId: 'r', trustProviderIds: [], claims: {}, jkt: 'j', expiresAt: new Date() };
    const target = { scheme: 'https', host: 'api.example.com', port: 443, path: '/' };
    const condition = { id: 'c', name: 'custom', type: 'custom', passed: false, reason: 'x'.repeat(100_000) };
    const decided = auditCredential(new Date(), meta, session, target, { conditions: [condition] }, undefined, long);
    expect((decided.data.message as string).length).toBeLessThanOrEqual(MAX_AUDIT_MESSAGE_LENGTH);
    expect(JSON.stringify(decided).length).toBeLessThan(2 * MAX_AUDIT_MESSAGE_LENGTH + 1000);
  });
});

describe('a flood of refused attestations', () => {
  it('costs an audit event per address, reason and minute with its count, not one per request', async () => {
    const t = await createTestApp(BACKENDS[0]!);
    let closed = false;
    try {
      const refusals = async () =>
        (await t.harness.rawQuery("SELECT data FROM audit_events WHERE kind = 'edge.attest'")).map((row) => JSON.parse(String(row.data)));
      const flood = async (remoteAddress: string, times: number) => {
        for (let i = 0; i < times; i++) {
          const response = await t.app.inject({ method: 'POST', url: '/edge/v1/attest', remoteAddress, headers: { 'tessera-sdk-instance': `i-${i}` }, payload: { evidence: { type: 'jwt', token: 'x' } } });
          expect(response.statusCode).toBe(401);
        }
      };
      await flood('203.0.113.9', 300);
      await flood('198.51.100.7', 20);
      // Recorded at once: the first refusal of each address (two, should a minute end mid-flood).
      expect((await refusals()).length).toBeLessThanOrEqual(4);
      await t.app.close(); // writes what was counted
      closed = true;
      const events = await refusals();
      expect(events.length).toBeLessThanOrEqual(8);
      const counted = (ip: string) => events.filter((e) => e.sourceIp === ip).reduce((sum, e) => sum + e.count, 0);
      expect(counted('203.0.113.9')).toBe(300);
      expect(counted('198.51.100.7')).toBe(20);
    } finally {
      if (!closed) await t.app.close();
      await t.harness.dispose();
    }
  });
});
