import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient, eventually, startClient, type ClientProcess } from './support/cloud-e2e.js';
import { api, startCloud, type CloudProcess } from './support/cloud-process.js';
import { startFakeIssuer } from './support/fake-services.js';

/**
 * Tenant isolation with real processes. Set A (`default`) and set B (`tenant-b`) trust the same
 * public issuer. B's editor adds a catch-all client workload and a server workload for the very
 * API A's workload calls. A's workload, started with the register hook and no resource set,
 * stays A's; the same evidence with `TESSERA_RESOURCE_SET=tenant-b` is B's.
 */
describe('resource sets at attestation, end to end', () => {
  let dataDir: string;
  let cloud: CloudProcess;
  let issuer: Awaited<ReturnType<typeof startFakeIssuer>>;
  let echo: Server;
  let echoUrl: string;
  let echoed = 0;
  let key: string;
  const clients: ClientProcess[] = [];
  const sets: Record<string, string> = {};

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'tessera-e2e-sets-'));
    issuer = await startFakeIssuer();
    // The API both sets manage: it answers with the credential it received.
    echo = createServer((request, response) => {
      echoed += 1;
      response.end(request.headers.authorization ?? 'none');
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    echoUrl = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
    cloud = await startCloud(['--data', dataDir]);
    key = cloud.bootstrapKey!;
    const admin = adminClient(cloud.url, key);

    const setA = (await api(cloud.url, key, 'GET', '/api/v1/resource-sets?name=default')).body.items[0] as { id: string };
    const setB = await admin('resource-sets', { name: 'tenant-b' });
    Object.assign(sets, { a: setA.id, b: setB.id });
    const editorB = ((await admin('admin-keys', { name: 'editor-b', role: 'editor', resourceSetIds: [setB.id] })) as unknown as { key: string }).key;
    const asEditorB = adminClient(cloud.url, editorB);
    const port = Number(new URL(echoUrl).port);
    const injection = { kind: 'header', name: 'authorization' };
    const oidc = { issuer: issuer.issuer, jwksUri: `${issuer.issuer}/keys` };

    const inB = { resourceSetId: setB.id };
    const trustB = await asEditorB('trust-providers', { ...inB, name: 'idp', type: 'oidc', config: oidc });
    const catchAll = await asEditorB('client-workloads', { ...inB, name: 'catch-all', identities: [{ claim: 'oidc.subject', value: '*' }, { claim: 'oidc.issuer', value: '*' }] });
    const serverB = await asEditorB('server-workloads', { ...inB, name: 'echo', host: '127.0.0.1', port, scheme: 'http', injection });
    const credentialB = await asEditorB('credential-providers', { ...inB, name: 'b-key', type: 'api-key', secrets: { apiKey: 'sk_tenant_b' } });
    await asEditorB('access-policies', { ...inB, name: 'b', clientWorkloadIds: [catchAll.id], serverWorkloadId: serverB.id, trustProviderIds: [trustB.id], credentialProviderId: credentialB.id });

    const trustA = await admin('trust-providers', { name: 'idp', type: 'oidc', config: oidc });
    const app = await admin('client-workloads', { name: 'app', identities: [{ claim: 'oidc.subject', value: 'repo:acme/app' }] });
    const serverA = await admin('server-workloads', { name: 'echo', host: '127.0.0.1', port, scheme: 'http', injection });
    const credentialA = await admin('credential-providers', { name: 'a-key', type: 'api-key', secrets: { apiKey: 'sk_tenant_a' } });
    await admin('access-policies', { name: 'a', clientWorkloadIds: [app.id], serverWorkloadId: serverA.id, trustProviderIds: [trustA.id], credentialProviderId: credentialA.id });
    Object.assign(sets, { app: app.id, catchAll: catchAll.id });
  });
  afterAll(async () => {
    for (const client of clients) await client.stop();
    await cloud?.stop();
    await issuer?.close();
    await new Promise((resolve) => echo?.close(resolve));
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function workload(extra: Record<string, string> = {}): Promise<ClientProcess> {
    const token = await issuer.sign({}, { audience: cloud.url, subject: 'repo:acme/app' });
    const client = await startClient({
      PATH: process.env.PATH!,
      TESSERA_CLOUD_URL: cloud.url,
      TESSERA_COLLECTORS: 'oidc',
      TESSERA_OIDC_TOKEN: token,
      TESSERA_EVENTS: 'off',
      STORAGE_URL: echoUrl,
      ...extra,
    });
    clients.push(client);
    return client;
  }

  async function attestations(clientWorkloadId: string) {
    const response = await api(cloud.url, key, 'GET', `/api/v1/audit-events?kind=edge.attest&clientWorkloadId=${clientWorkloadId}`);
    return response.body.items as Array<{ resourceSetId: string; outcome: string }>;
  }

  it("keeps A's workload in A, with A's credential and audit trail", async () => {
    const client = await workload();
    const reply = await client.call('fetch', { path: '/orders' });
    expect(reply, client.output()).toMatchObject({ ok: true, status: 200, body: 'Bearer sk_tenant_a' });
    const events = await eventually(async () => {
      const found = await attestations(sets.app!);
      return found.length > 0 ? found : undefined;
    });
    expect(events[0]).toMatchObject({ resourceSetId: sets.a, outcome: 'allow' });
    expect(await attestations(sets.catchAll!)).toEqual([]);
  });

  it('attests into the set TESSERA_RESOURCE_SET names, and only there', async () => {
    const inB = await workload({ TESSERA_RESOURCE_SET: 'tenant-b' });
    expect(await inB.call('fetch', { path: '/orders' }), inB.output()).toMatchObject({ ok: true, status: 200, body: 'Bearer sk_tenant_b' });
    expect((await attestations(sets.catchAll!))[0]).toMatchObject({ resourceSetId: sets.b, outcome: 'allow' });

    // A set that does not exist: the attestation is refused, and the request never leaves.
    const nowhere = await workload({ TESSERA_RESOURCE_SET: 'no-such-set' });
    const before = echoed;
    const refused = await nowhere.call('fetch', { path: '/orders' });
    expect(refused.ok).toBe(false);
    expect(refused.errors?.map((e) => e.code)).toContain('unsupported_evidence');
    expect(echoed).toBe(before);
  });
});
