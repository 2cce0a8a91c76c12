import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestKey, expectRefused, NOW } from '../../../test/support/jwt-fixtures.js';
import { closedPortUrl, type LoopbackServer, sendJson, startLoopbackServer } from '../../../test/support/loopback-server.js';
import { type FakeImds, type FakeManagedIdentity, startFakeImds, USER_ASSIGNED_RESOURCE_ID, VM_RESOURCE_ID } from '../../../test/support/fake-azure-imds.js';
import { createAzureManagedIdentityCollector, IMDS_PROBE_TIMEOUT_MS } from './index.js';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const RESOURCE = 'api://tessera-prod';
const IDENTITY_HEADER = 'app-service-identity-header-5f1e9c';
const ctx = { audience: 'https://tessera.example.com' };
const PROVIDER = 'azure-managed-identity';

const vm: FakeManagedIdentity = { clientId: '3a1f7c52-5b7e-4d51-9a0e-2f8c6d4b1e90', objectId: 'd6b3c1a2-9e8f-4a7b-8c6d-5e4f3a2b1c0d', resourceId: VM_RESOURCE_ID };
const ua1: FakeManagedIdentity = { clientId: 'b7e4f1a0-2c3d-4e5f-8a9b-0c1d2e3f4a5b', objectId: '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f', resourceId: USER_ASSIGNED_RESOURCE_ID };
const ua2: FakeManagedIdentity = { ...ua1, clientId: 'c8f5a2b1-3d4e-4f5a-9b0c-1d2e3f4a5b6c', objectId: '2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a' };

const payloadOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;

describe('azure-managed-identity collector', () => {
  let imds: FakeImds;
  let multiUser: FakeImds;
  let env: Record<string, string | undefined>;

  beforeAll(async () => {
    const key = await createTestKey('entra-key-1', 'RS256');
    imds = await startFakeImds({ tenantId: TENANT, key, systemAssigned: vm, userAssigned: [ua1], now: () => NOW, identityHeader: IDENTITY_HEADER });
    multiUser = await startFakeImds({ tenantId: TENANT, key, userAssigned: [ua1, ua2], now: () => NOW });
  });
  afterAll(async () => {
    await imds.close();
    await multiUser.close();
  });
  beforeEach(() => {
    imds.server.requests.length = 0;
    imds.failures.length = 0;
    env = { TESSERA_AZURE_IMDS_ENDPOINT: imds.origin, TESSERA_AZURE_RESOURCE: RESOURCE };
  });

  it('asks IMDS for a token for the configured resource, with the Metadata header', async () => {
    const collector = createAzureManagedIdentityCollector({ env });
    expect(collector).toMatchObject({ type: 'azure-managed-identity', evidenceType: 'azure-managed-identity' });
    const evidence = await collector.collect(ctx);
    expect(Object.keys(evidence)).toEqual(['type', 'token']);
    expect(evidence.type).toBe('azure-managed-identity');
    // The audience is the resource, not the cloud URL; the token is the VM's own identity.
    expect(payloadOf(evidence.token as string)).toMatchObject({ aud: RESOURCE, appid: vm.clientId, xms_mirid: VM_RESOURCE_ID });
    const [request] = imds.server.requests;
    expect(request?.url).toBe(`/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent(RESOURCE)}`);
    expect(request?.headers.metadata).toBe('true');
  });

  it('selects a user-assigned identity by client id, from the option or TESSERA_AZURE_CLIENT_ID', async () => {
    const fromEnv = await createAzureManagedIdentityCollector({ env: { ...env, TESSERA_AZURE_CLIENT_ID: ua1.clientId } }).collect(ctx);
    expect(payloadOf(fromEnv.token as string)).toMatchObject({ appid: ua1.clientId, oid: ua1.objectId });
    expect(imds.server.requests[0]?.url).toContain(`&client_id=${ua1.clientId}`);
    const fromOption = await createAzureManagedIdentityCollector({ env, clientId: ua1.clientId, resource: 'api://other' }).collect(ctx);
    expect(payloadOf(fromOption.token as string)).toMatchObject({ appid: ua1.clientId, aud: 'api://other' });
  });

  it('is refused by IMDS without the Metadata header, as Azure does', async () => {
    const response = await fetch(`${imds.origin}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent(RESOURCE)}`);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: 'invalid_request', error_description: 'Required metadata header not specified' });
  });

  it('reports IMDS refusals with their reason, and never a token', async () => {
    const unknown = createAzureManagedIdentityCollector({ env: { ...env, TESSERA_AZURE_CLIENT_ID: '00000000-0000-4000-8000-000000000000' } });
    await expectRefused(unknown.collect(ctx), { code: 'trust_provider_error', message: 'IMDS token request failed: HTTP 400: invalid_request: Identity not found', provider: PROVIDER });
    const ambiguous = createAzureManagedIdentityCollector({ env: { ...env, TESSERA_AZURE_IMDS_ENDPOINT: multiUser.origin } });
    await expectRefused(ambiguous.collect(ctx), { code: 'trust_provider_error', message: 'Multiple user assigned identities exist', provider: PROVIDER });
  });

  it('retries what IMDS asks to retry (410 while updating, 5xx), then gives up', async () => {
    imds.failures.push(410, 503);
    await expect(createAzureManagedIdentityCollector({ env }).collect(ctx)).resolves.toMatchObject({ type: 'azure-managed-identity' });
    expect(imds.server.requests).toHaveLength(3);
    imds.failures.push(500, 500, 500);
    await expectRefused(createAzureManagedIdentityCollector({ env }).collect(ctx), {
      code: 'trust_provider_error',
      message: 'IMDS token request failed: HTTP 500: temporarily_unavailable: IMDS is updating, retry later',
      provider: PROVIDER,
    });
  });

  it('needs a resource, and refuses a bad endpoint before any request', async () => {
    await expectRefused(createAzureManagedIdentityCollector({ env: { TESSERA_AZURE_IMDS_ENDPOINT: imds.origin } }).collect(ctx), {
      code: 'invalid_config',
      message: 'no resource to request the token for: set TESSERA_AZURE_RESOURCE',
      provider: PROVIDER,
    });
    for (const endpoint of ['ftp://169.254.169.254', 'http://user:pw@169.254.169.254', 'http://169.254.169.254/?x=1', 'not a url']) {
      await expect(createAzureManagedIdentityCollector({ env: { ...env, TESSERA_AZURE_IMDS_ENDPOINT: endpoint } }).collect(ctx)).rejects.toMatchObject({ code: 'invalid_config' });
    }
    expect(imds.server.requests).toEqual([]);
  });

  it('fails clearly off Azure', async () => {
    const offline = { ...env, TESSERA_AZURE_IMDS_ENDPOINT: await closedPortUrl('') };
    await expectRefused(createAzureManagedIdentityCollector({ env: offline }).collect(ctx), {
      code: 'trust_provider_error',
      message: 'IMDS token request failed: network error (is this an Azure resource with a managed identity?)',
      provider: PROVIDER,
    });
  });
});

describe('azure-managed-identity collector: App Service and Functions', () => {
  let imds: FakeImds;
  beforeAll(async () => {
    imds = await startFakeImds({ tenantId: TENANT, key: await createTestKey('k', 'RS256'), systemAssigned: vm, now: () => NOW, identityHeader: IDENTITY_HEADER });
  });
  afterAll(() => imds.close());

  it('uses IDENTITY_ENDPOINT with X-IDENTITY-HEADER and api-version 2019-08-01', async () => {
    const env = { IDENTITY_ENDPOINT: `${imds.origin}/msi/token`, IDENTITY_HEADER, TESSERA_AZURE_RESOURCE: RESOURCE };
    const collector = createAzureManagedIdentityCollector({ env, fetch: (input, init) => fetch(input, init) });
    expect(await collector.detect()).toBe(true);
    expect(imds.server.requests).toEqual([]); // recognised by its variables, no probe
    const evidence = await collector.collect(ctx);
    expect(payloadOf(evidence.token as string)).toMatchObject({ aud: RESOURCE, xms_mirid: VM_RESOURCE_ID });
    const [request] = imds.server.requests;
    expect(request?.url).toBe(`/msi/token?api-version=2019-08-01&resource=${encodeURIComponent(RESOURCE)}`);
    expect(request?.headers['x-identity-header']).toBe(IDENTITY_HEADER);
    expect(request?.headers.metadata).toBeUndefined();
  });

  it('never puts the identity header in an error', async () => {
    const env = { IDENTITY_ENDPOINT: `${imds.origin}/msi/token`, IDENTITY_HEADER: `${IDENTITY_HEADER}-wrong`, TESSERA_AZURE_RESOURCE: RESOURCE };
    const error = await expectRefused(createAzureManagedIdentityCollector({ env }).collect(ctx), {
      code: 'trust_provider_error',
      message: 'App Service identity token request failed: HTTP 400: Unable to load the proper Managed Identity.',
      provider: PROVIDER,
    });
    expect(JSON.stringify(error)).not.toContain(IDENTITY_HEADER);
    expect(String(error.stack)).not.toContain(IDENTITY_HEADER);
  });

  it('leaves Service Fabric (same variables plus a thumbprint) and an explicit IMDS endpoint to IMDS', async () => {
    const fabric = { IDENTITY_ENDPOINT: `${imds.origin}/msi/token`, IDENTITY_HEADER, IDENTITY_SERVER_THUMBPRINT: 'AB12', TESSERA_AZURE_RESOURCE: RESOURCE, TESSERA_AZURE_IMDS_ENDPOINT: imds.origin };
    imds.server.requests.length = 0;
    await createAzureManagedIdentityCollector({ env: fabric }).collect(ctx);
    expect(imds.server.requests[0]?.url.startsWith('/metadata/identity/oauth2/token?')).toBe(true);
  });
});

describe('azure-managed-identity collector: detect()', () => {
  let imds: FakeImds;
  let aws: LoopbackServer;
  let blackhole: Server;
  let blackholeUrl: string;

  beforeAll(async () => {
    imds = await startFakeImds({ tenantId: TENANT, key: await createTestKey('k', 'RS256'), systemAssigned: vm, now: () => NOW });
    // Another cloud's metadata server at the same address answers 404 to this path.
    aws = await startLoopbackServer((_request, response) => sendJson(response, { message: 'Not Found' }, 404));
    // A link-local address with nothing behind it: connections hang.
    blackhole = createServer(() => undefined);
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    blackholeUrl = `http://127.0.0.1:${(blackhole.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await imds.close();
    await aws.close();
    blackhole.closeAllConnections();
    await new Promise((resolve) => blackhole.close(resolve));
  });

  it('answers false with no I/O when no resource is configured', async () => {
    const calls: string[] = [];
    const spy: typeof fetch = async (input) => (calls.push(String(input)), new Response(null, { status: 400 }));
    expect(await createAzureManagedIdentityCollector({ env: {}, fetch: spy }).detect()).toBe(false);
    expect(await createAzureManagedIdentityCollector({ env: { IDENTITY_ENDPOINT: 'http://127.0.0.1:1/msi/token', IDENTITY_HEADER }, fetch: spy }).detect()).toBe(false);
    expect(calls).toEqual([]);
  });

  it('probes IMDS without the Metadata header and recognises its 400', async () => {
    imds.server.requests.length = 0;
    expect(await createAzureManagedIdentityCollector({ env: { TESSERA_AZURE_RESOURCE: RESOURCE, TESSERA_AZURE_IMDS_ENDPOINT: imds.origin } }).detect()).toBe(true);
    expect(imds.server.requests).toHaveLength(1);
    expect(imds.server.requests[0]?.headers.metadata).toBeUndefined();
    expect(await createAzureManagedIdentityCollector({ env: { TESSERA_AZURE_RESOURCE: RESOURCE, TESSERA_AZURE_IMDS_ENDPOINT: aws.origin } }).detect()).toBe(false);
  });

  it('answers false quickly when nothing answers, or nothing listens', async () => {
    for (const endpoint of [blackholeUrl, await closedPortUrl('')]) {
      const started = performance.now();
      expect(await createAzureManagedIdentityCollector({ env: { TESSERA_AZURE_RESOURCE: RESOURCE, TESSERA_AZURE_IMDS_ENDPOINT: endpoint } }).detect()).toBe(false);
      expect(performance.now() - started).toBeLessThan(IMDS_PROBE_TIMEOUT_MS + 200);
    }
  });

  it('answers false, without throwing, on a malformed endpoint', async () => {
    expect(await createAzureManagedIdentityCollector({ env: { TESSERA_AZURE_RESOURCE: RESOURCE, TESSERA_AZURE_IMDS_ENDPOINT: 'nope' } }).detect()).toBe(false);
  });
});
