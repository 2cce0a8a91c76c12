import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../../test/support/store-backends.js';
import { create, createTestApp, type TestApp } from '../../test/support/app-harness.js';
import { EdgeTestClient, type Send } from '../../test/support/edge-client.js';

/**
 * An editor may write trust providers and policies, so it can hand a credential provider's
 * stored secret to a workload it controls: that is inherent, and recorded (`admin.change` names
 * the credential provider). A `policy-editor` key writes workloads, conditions and policies but
 * cannot: every write that would change who receives a stored secret, or where it is sent, is
 * refused — and the attacker's workload indeed never gets the secret.
 */

const SECRET = 'sk_live_delivery_do_not_leak_51f0';
const TARGET = { scheme: 'https', host: 'api.example.com', port: 443, path: '/v1/quotes' };

describe.each(BACKENDS)('who receives a stored secret ($name)', (backend) => {
  let t: TestApp;
  let send: Send;
  let policyEditor: string;
  let editor: string;
  const o: Record<string, any> = {};

  const attackerReads = async (target = TARGET) => {
    const sdk = await EdgeTestClient.create('https://tessera.test', send);
    const attested = await sdk.attest({ type: 'fixture', subject: 'attacker' });
    if (attested.status !== 200) return attested;
    return sdk.credentials(target);
  };
  const lastChange = async (objectId: string) => {
    const events = await t.call('GET', `/api/v1/audit-events?kind=admin.change&objectId=${objectId}&limit=1`);
    return events.body.items[0]; // newest first
  };

  beforeAll(async () => {
    t = await createTestApp(backend);
    send = async (method, path, headers, body) => {
      const response = await t.app.inject({ method: method as 'POST', url: path, headers, payload: body as object });
      return { status: response.statusCode, body: response.body ? JSON.parse(response.body) : undefined };
    };
    // The trust provider admits the attacker's workload for its own, legitimate purposes.
    o.trust = await create(t, 'trust-providers', { name: 'cluster', type: 'fixture-static', config: { subjects: ['svc-a', 'svc-batch', 'attacker'] } });
    o.otherTrust = await create(t, 'trust-providers', { name: 'other', type: 'fixture-static', config: { subjects: ['attacker'] } });
    o.key = await create(t, 'credential-providers', { name: 'quotes-key', type: 'api-key', secrets: { apiKey: SECRET } });
    o.mint = await create(t, 'credential-providers', { name: 'mint', type: 'workload-jwt', config: { audience: 'https://reports.example.com' } });
    o.payments = await create(t, 'client-workloads', { name: 'payments', identities: [{ claim: 'fixture.subject', value: 'svc-*' }] });
    // An editor's carve-out: the batch job matches payments too, but is a workload of its own.
    o.batch = await create(t, 'client-workloads', {
      name: 'batch',
      identities: [
        { claim: 'fixture.subject', value: 'svc-*' },
        { claim: 'fixture.subject', value: 'svc-batch' },
      ],
    });
    o.reporting = await create(t, 'client-workloads', { name: 'reporting', identities: [{ claim: 'fixture.subject', value: 'reporting' }] });
    const injection = { kind: 'header', name: 'authorization' };
    o.api = await create(t, 'server-workloads', { name: 'quotes-api', host: 'api.example.com', port: 443, scheme: 'https', injection });
    o.reports = await create(t, 'server-workloads', { name: 'reports', host: 'reports.example.com', port: 443, scheme: 'https', injection });
    o.hours = await create(t, 'access-conditions', { name: 'hours', type: 'time-window', config: { timeZone: 'UTC', start: '00:00', end: '23:59' } });
    o.policy = await create(t, 'access-policies', {
      name: 'payments-quotes',
      clientWorkloadIds: [o.payments.id],
      serverWorkloadId: o.api.id,
      trustProviderIds: [o.trust.id],
      accessConditionIds: [o.hours.id],
      credentialProviderId: o.key.id,
    });
    o.reportsPolicy = await create(t, 'access-policies', {
      name: 'payments-reports',
      clientWorkloadIds: [o.payments.id],
      serverWorkloadId: o.reports.id,
      trustProviderIds: [o.trust.id],
      credentialProviderId: o.mint.id,
    });
    const key = async (name: string, role: string) => (await create(t, 'admin-keys', { name, role, resourceSetIds: ['*'] })).key as string;
    policyEditor = await key('policy-editor', 'policy-editor');
    editor = await key('editor', 'editor');
    // The policy editor may make the attacker's process a client workload of its own.
    o.attacker = await create(t, 'client-workloads', { name: 'attacker', identities: [{ claim: 'fixture.subject', value: 'attacker' }] }, policyEditor);
  });
  afterAll(async () => {
    await t?.close();
  });

  const refusals: Array<[string, () => [string, string, Record<string, unknown> | undefined]]> = [
    ['create a policy that uses the key', () => ['POST', '/api/v1/access-policies', { name: 'steal', clientWorkloadIds: [o.attacker.id], serverWorkloadId: o.api.id, trustProviderIds: [o.trust.id], credentialProviderId: o.key.id }]],
    ["add its workload to the key's policy", () => ['PATCH', `/api/v1/access-policies/${o.policy.id}`, { clientWorkloadIds: [o.payments.id, o.attacker.id] }]],
    ["change the key's policy's trust providers", () => ['PATCH', `/api/v1/access-policies/${o.policy.id}`, { trustProviderIds: [o.trust.id, o.otherTrust.id] }]],
    ["drop the key's policy's conditions", () => ['PATCH', `/api/v1/access-policies/${o.policy.id}`, { accessConditionIds: [] }]],
    ["point the key's policy at another server workload", () => ['PATCH', `/api/v1/access-policies/${o.policy.id}`, { serverWorkloadId: o.reports.id }]],
    ['switch another policy to the key', () => ['PATCH', `/api/v1/access-policies/${o.reportsPolicy.id}`, { credentialProviderId: o.key.id }]],
    ['move the server workload that receives the key (host)', () => ['PATCH', `/api/v1/server-workloads/${o.api.id}`, { host: 'attacker.example.net' }]],
    ['... (port)', () => ['PATCH', `/api/v1/server-workloads/${o.api.id}`, { port: 8443 }]],
    ['... (scheme)', () => ['PATCH', `/api/v1/server-workloads/${o.api.id}`, { scheme: 'http' }]],
    ['... (path prefix)', () => ['PATCH', `/api/v1/server-workloads/${o.api.id}`, { pathPrefix: '/v2' }]],
    ['... (injection into a query parameter)', () => ['PATCH', `/api/v1/server-workloads/${o.api.id}`, { injection: { kind: 'query', name: 'key' } }]],
    ['widen a client workload that receives the key', () => ['PATCH', `/api/v1/client-workloads/${o.payments.id}`, { identities: [{ claim: 'fixture.subject', value: '*' }] }]],
    ["delete the carve-out, so the batch job's processes become payments", () => ['DELETE', `/api/v1/client-workloads/${o.batch.id}`, undefined]],
    ['disable the carve-out', () => ['PATCH', `/api/v1/client-workloads/${o.batch.id}`, { enabled: false }]],
    ["change the carve-out's identities", () => ['PATCH', `/api/v1/client-workloads/${o.batch.id}`, { identities: [{ claim: 'fixture.subject', value: 'svc-batch' }, { claim: 'fixture.subject', value: 'svc-*-x' }] }]],
    ["change the key's policy's condition", () => ['PATCH', `/api/v1/access-conditions/${o.hours.id}`, { config: { timeZone: 'UTC', start: '00:00', end: '12:00' } }]],
    ["switch the key's policy's condition off", () => ['PATCH', `/api/v1/access-conditions/${o.hours.id}`, { enabled: false }]],
  ];

  it.each(refusals)('refuses a policy editor to %s', async (_what, request) => {
    const [method, path, body] = request();
    const before = method === 'POST' ? undefined : (await t.call('GET', path)).body;
    const response = await t.call(method, path, { key: policyEditor, ...(body ? { body } : {}) });
    expect(response.status, response.raw).toBe(403);
    expect(response.body).toEqual({ code: 'secret_delivery_forbidden', message: expect.stringContaining('stored secret') });
    if (before) expect((await t.call('GET', path)).body).toEqual(before);
    else expect((await t.call('GET', '/api/v1/access-policies?name=steal')).body.items).toEqual([]);
  });

  it('refuses a policy editor every write of trust providers, credential providers and log streams', async () => {
    const writes: Array<[string, string, Record<string, unknown>?]> = [
      ['POST', '/api/v1/trust-providers', { name: 'mine', type: 'fixture-static', config: { subjects: ['attacker'] } }],
      ['PATCH', `/api/v1/trust-providers/${o.trust.id}`, { rules: [] }],
      ['POST', '/api/v1/credential-providers', { name: 'mine', type: 'api-key', secrets: { apiKey: 'x' } }],
      ['PATCH', `/api/v1/credential-providers/${o.key.id}`, { enabled: true }],
      ['DELETE', `/api/v1/credential-providers/${o.mint.id}`],
      ['POST', '/api/v1/log-streams', { name: 'mine', type: 'webhook', config: { url: 'https://siem.example.com/in' } }],
    ];
    for (const [method, path, body] of writes) {
      const response = await t.call(method, path, { key: policyEditor, ...(body ? { body } : {}) });
      expect(response.status, `${method} ${path}`).toBe(403);
      expect(response.body.code).toBe('forbidden');
    }
  });

  it('lets a policy editor do its job where no stored secret is at stake', async () => {
    const own = await create(t, 'server-workloads', { name: 'own-api', host: 'own.example.com', port: 443, scheme: 'https', injection: { kind: 'header', name: 'authorization' } }, policyEditor);
    const policy = await create(t, 'access-policies', { name: 'attacker-own', clientWorkloadIds: [o.attacker.id], serverWorkloadId: own.id, trustProviderIds: [o.trust.id], credentialProviderId: o.mint.id }, policyEditor);
    const allowed: Array<[string, string, Record<string, unknown>?]> = [
      ['PATCH', `/api/v1/server-workloads/${own.id}`, { host: 'own2.example.com' }],
      ['PATCH', `/api/v1/access-policies/${policy.id}`, { clientWorkloadIds: [o.attacker.id, o.reporting.id] }],
      ['PATCH', `/api/v1/access-policies/${o.policy.id}`, { description: 'reviewed' }],
      ['PATCH', `/api/v1/server-workloads/${o.api.id}`, { description: 'reviewed' }],
      ['PATCH', `/api/v1/client-workloads/${o.payments.id}`, { description: 'reviewed' }],
      ['PATCH', `/api/v1/access-conditions/${o.hours.id}`, { description: 'reviewed' }],
      // Fewer processes could reach the key: switching a policy off, removing a workload no process moves from.
      ['PATCH', `/api/v1/access-policies/${o.reportsPolicy.id}`, { enabled: false }],
      ['PATCH', `/api/v1/client-workloads/${o.reporting.id}`, { identities: [{ claim: 'fixture.subject', value: 'reporting-2' }] }],
      ['PATCH', `/api/v1/access-policies/${policy.id}`, { clientWorkloadIds: [o.attacker.id] }],
      ['DELETE', `/api/v1/client-workloads/${o.reporting.id}`],
    ];
    for (const [method, path, body] of allowed) {
      const response = await t.call(method, path, { key: policyEditor, ...(body ? { body } : {}) });
      expect(response.status, `${method} ${path}: ${response.raw}`).toBe(method === 'DELETE' ? 204 : 200);
    }
    const disabled = await t.call('PATCH', `/api/v1/access-policies/${o.policy.id}`, { key: policyEditor, body: { enabled: false } });
    expect(disabled.status).toBe(200);
    const enabled = await t.call('PATCH', `/api/v1/access-policies/${o.policy.id}`, { key: policyEditor, body: { enabled: true } });
    expect(enabled.body.code).toBe('secret_delivery_forbidden');
    await t.call('PATCH', `/api/v1/access-policies/${o.policy.id}`, { body: { enabled: true } });
    await t.call('PATCH', `/api/v1/access-policies/${o.reportsPolicy.id}`, { body: { enabled: true } });
  });

  it("never hands the policy editor's workload the key; an editor can, and the change names the credential provider", async () => {
    const denied = await attackerReads();
    expect(denied.status).toBe(403);
    expect(JSON.stringify(denied.body)).not.toContain(SECRET);

    // An editor may write policies and trust providers: it can hand the key to any workload.
    const patched = await t.call('PATCH', `/api/v1/access-policies/${o.policy.id}`, { key: editor, body: { clientWorkloadIds: [o.payments.id, o.attacker.id] } });
    expect(patched.status).toBe(200);
    const read = await attackerReads();
    expect(read.status).toBe(200);
    expect(read.body.credential).toMatchObject({ kind: 'token', token: SECRET });
    expect(await lastChange(o.policy.id)).toMatchObject({
      actor: expect.any(String),
      data: { action: 'update', changedFields: ['clientWorkloadIds'], credentialProviders: [{ id: o.key.id, name: 'quotes-key' }] },
    });
    await t.call('PATCH', `/api/v1/access-policies/${o.policy.id}`, { body: { clientWorkloadIds: [o.payments.id] } });
  });

  it('names the credential provider whenever a policy is created with it or starts using it, and when its server workload moves', async () => {
    const policy = await create(t, 'access-policies', { name: 'audited', clientWorkloadIds: [o.payments.id], serverWorkloadId: o.reports.id, trustProviderIds: [o.trust.id], credentialProviderId: o.mint.id }, editor);
    expect((await lastChange(policy.id)).data).toMatchObject({ action: 'create', credentialProviders: [{ id: o.mint.id, name: 'mint' }] });
    await t.call('PATCH', `/api/v1/access-policies/${policy.id}`, { key: editor, body: { credentialProviderId: o.key.id } });
    expect((await lastChange(policy.id)).data).toMatchObject({ changedFields: ['credentialProviderId'], credentialProviders: [{ id: o.key.id, name: 'quotes-key' }] });

    await t.call('PATCH', `/api/v1/server-workloads/${o.reports.id}`, { key: editor, body: { host: 'reports2.example.com' } });
    const moved = await lastChange(o.reports.id);
    expect(moved.data.changedFields).toEqual(['host']);
    expect(moved.data.credentialProviders).toEqual(
      [{ id: o.key.id, name: 'quotes-key' }, { id: o.mint.id, name: 'mint' }].sort((a, b) => (a.id < b.id ? -1 : 1)),
    );
    await t.call('PATCH', `/api/v1/server-workloads/${o.reports.id}`, { key: editor, body: { description: 'not a move' } });
    expect((await lastChange(o.reports.id)).data.credentialProviders).toBeUndefined();
    await t.call('DELETE', `/api/v1/access-policies/${policy.id}`, { key: editor });
  });
});
