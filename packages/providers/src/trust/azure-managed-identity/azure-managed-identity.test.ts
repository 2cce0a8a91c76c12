import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { VerifyContext } from '../../contracts.js';
import { ProviderRegistry } from '../../registry.js';
import { validateConfig, validateProviderConfig } from '../../validate-config.js';
import { createJwtKeySource } from '../jwt/key-source.js';
import { createTestKey, expectRefused, hmacWithPublicKey, NOW, NOW_SECONDS, signToken, type TestKey, unsignedToken } from '../../../test/support/jwt-fixtures.js';
import { type FakeImds, type FakeManagedIdentity, startFakeImds, USER_ASSIGNED_RESOURCE_ID, VM_RESOURCE_ID } from '../../../test/support/fake-azure-imds.js';
import {
  type AzureManagedIdentityConfig,
  azureManagedIdentityTrustProvider,
  createAzureManagedIdentityCollector,
  createAzureManagedIdentityTrustProvider,
  parseAzureResourceId,
} from './index.js';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const OTHER_TENANT = '0e3e2e88-8caf-41ca-b4da-e3b33b6c52ec';
const RESOURCE = 'api://tessera-prod';
const SUBSCRIPTION = '8d2a9f0e-4b1c-4e3a-9f5d-1a2b3c4d5e6f';
const PROVIDER = 'azure-managed-identity';

const vmIdentity: FakeManagedIdentity = {
  clientId: '3a1f7c52-5b7e-4d51-9a0e-2f8c6d4b1e90',
  objectId: 'd6b3c1a2-9e8f-4a7b-8c6d-5e4f3a2b1c0d',
  resourceId: VM_RESOURCE_ID,
};
const userAssigned: FakeManagedIdentity = {
  clientId: 'b7e4f1a0-2c3d-4e5f-8a9b-0c1d2e3f4a5b',
  objectId: '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f',
  resourceId: USER_ASSIGNED_RESOURCE_ID,
};

describe('azure-managed-identity trust provider', () => {
  let key: TestKey;
  let otherKey: TestKey;
  let imds: FakeImds;
  let foreignImds: FakeImds;
  let fetched: string[];
  let ctx: VerifyContext;

  beforeAll(async () => {
    [key, otherKey] = await Promise.all([createTestKey('entra-key-1', 'RS256'), createTestKey('entra-key-1', 'RS256')]);
    imds = await startFakeImds({ tenantId: TENANT, key, systemAssigned: vmIdentity, userAssigned: [userAssigned], now: () => NOW });
    foreignImds = await startFakeImds({ tenantId: OTHER_TENANT, key, systemAssigned: vmIdentity, now: () => NOW });
  });
  afterAll(async () => {
    await imds.close();
    await foreignImds.close();
  });
  beforeEach(() => {
    imds.tokenVersion = '1.0';
    imds.server.requests.length = 0;
    fetched = [];
    ctx = {
      audience: 'https://tessera.example.com', // the cloud's URL: not what Azure tokens carry
      now: () => NOW,
      fetch: (input, init) => {
        fetched.push(String(input));
        return fetch(input, init);
      },
    };
  });

  const config = (overrides: Partial<AzureManagedIdentityConfig> = {}): AzureManagedIdentityConfig => ({
    tenantId: TENANT,
    audience: RESOURCE,
    jwksUri: imds.jwksUri,
    ...overrides,
  });
  const verify = (token: string, overrides: Partial<AzureManagedIdentityConfig> = {}) =>
    createAzureManagedIdentityTrustProvider({ keySource: createJwtKeySource() }).verify({ type: 'azure-managed-identity', token }, config(overrides), ctx);
  const collect = (env: Record<string, string>) =>
    createAzureManagedIdentityCollector({ env: { TESSERA_AZURE_IMDS_ENDPOINT: imds.origin, TESSERA_AZURE_RESOURCE: RESOURCE, ...env } }).collect({
      audience: ctx.audience,
    });
  const refused = (token: string, message: string, overrides: Partial<AzureManagedIdentityConfig> = {}, code: 'evidence_invalid' | 'evidence_expired' = 'evidence_invalid') =>
    expectRefused(verify(token, overrides), { code, message, provider: PROVIDER, token, allowedValues: [RESOURCE] });

  it('verifies a VM\'s system-assigned identity token from IMDS against the tenant keys', async () => {
    const evidence = await collect({});
    expect(evidence).toMatchObject({ type: 'azure-managed-identity' });
    const result = await createAzureManagedIdentityTrustProvider({ keySource: createJwtKeySource() }).verify(evidence, config(), ctx);
    expect(result).toEqual({
      claims: {
        'azure.tenantId': TENANT,
        'azure.objectId': vmIdentity.objectId,
        'azure.appId': vmIdentity.clientId,
        'azure.subscriptionId': SUBSCRIPTION,
        'azure.resourceGroup': 'payments-prod',
        'azure.resourceType': 'microsoft.compute/virtualmachines',
        'azure.resourceName': 'billing-vm-1',
        'azure.resourceId': VM_RESOURCE_ID.toLowerCase(),
      },
      expiresAt: new Date((NOW_SECONDS + 86_399) * 1000),
      subject: vmIdentity.objectId,
    });
    // Keys came from the configured Entra keys endpoint, and from nowhere else.
    expect(fetched).toEqual([imds.jwksUri]);
  });

  it('verifies a user-assigned identity (selected by client id) and a v2 token', async () => {
    imds.tokenVersion = '2.0';
    const evidence = await collect({ TESSERA_AZURE_CLIENT_ID: userAssigned.clientId });
    const { claims } = await verify(evidence.token as string);
    expect(claims).toEqual({
      'azure.tenantId': TENANT,
      'azure.objectId': userAssigned.objectId,
      'azure.appId': userAssigned.clientId,
      'azure.subscriptionId': SUBSCRIPTION,
      'azure.resourceGroup': 'payments-prod',
      'azure.resourceType': 'microsoft.managedidentity/userassignedidentities',
      'azure.resourceName': 'billing-identity',
      'azure.resourceId': USER_ASSIGNED_RESOURCE_ID.toLowerCase(),
    });
  });

  it('refuses a token of another tenant, by issuer and by "tid"', async () => {
    const foreign = await foreignImds.mint(vmIdentity, RESOURCE);
    await refused(foreign, 'unexpected "iss"');
    const mixed = await imds.mint(vmIdentity, RESOURCE, { tid: OTHER_TENANT });
    await refused(mixed, '"tid" is not the configured tenant');
  });

  it('refuses a token for another resource (audience)', async () => {
    await refused(await imds.mint(vmIdentity, 'https://management.azure.com/'), '"aud" mismatch');
    await refused(await imds.mint(vmIdentity, RESOURCE), '"aud" mismatch', { audience: 'api://another-app' });
  });

  it('refuses an expired token', async () => {
    const expired = await imds.mint(vmIdentity, RESOURCE, { iat: NOW_SECONDS - 90_000, nbf: NOW_SECONDS - 90_000, exp: NOW_SECONDS - 60 });
    await refused(expired, 'token expired', {}, 'evidence_expired');
    const old = await imds.mint(vmIdentity, RESOURCE, { iat: NOW_SECONDS - 7200 });
    await refused(old, 'token too old', { maxTokenAgeSeconds: 3600 }, 'evidence_expired');
  });

  it('refuses a token signed by another key, and any algorithm but RS256', async () => {
    const payload = { aud: RESOURCE, iss: `https://sts.windows.net/${TENANT}/`, iat: NOW_SECONDS, exp: NOW_SECONDS + 600, tid: TENANT, oid: vmIdentity.objectId, appid: vmIdentity.clientId, xms_mirid: VM_RESOURCE_ID };
    await refused(await signToken(payload, otherKey), 'signature verification failed');
    await refused(await signToken(payload, await createTestKey('unknown-kid')), 'no key in the JWKS matches');
    await refused(await signToken(payload, await createTestKey('entra-key-1', 'ES256')), '"alg" not allowed');
    await refused(unsignedToken(payload, key.kid), '"alg" not allowed');
    await refused(await hmacWithPublicKey(payload, key), '"alg" not allowed');
    await refused(await signToken(payload, key, { jku: `${imds.origin}/evil-keys` }), 'forbidden "jku" header');
    expect(imds.server.count('/evil-keys')).toBe(0);
  });

  it('accepts only managed identity tokens: xms_mirid present and well formed, no user "scp"', async () => {
    await refused(await imds.mint(vmIdentity, RESOURCE, { xms_mirid: undefined }), 'missing "xms_mirid" claim: not a managed identity token');
    await refused(await imds.mint(vmIdentity, RESOURCE, { xms_mirid: '/subscriptions/not-a-guid/resourcegroups/rg/providers/Microsoft.Compute/virtualMachines/vm' }), '"xms_mirid" claim is not an Azure resource id');
    await refused(await imds.mint(vmIdentity, RESOURCE, { scp: 'user_impersonation' }), '"scp" claim present');
    await refused(await imds.mint(vmIdentity, RESOURCE, { oid: undefined }), 'missing "oid" claim');
    await refused(await imds.mint(vmIdentity, RESOURCE, { appid: undefined }), 'missing "appid" (or "azp") claim');
  });

  it('restricts subscriptions and object ids when configured (case-insensitively)', async () => {
    const token = await imds.mint(vmIdentity, RESOURCE);
    await expect(verify(token, { subscriptionIds: [SUBSCRIPTION.toUpperCase()], objectIds: [vmIdentity.objectId] })).resolves.toBeTruthy();
    await refused(token, 'the identity\'s subscription is not in subscriptionIds', { subscriptionIds: ['00000000-0000-4000-8000-000000000000'] });
    await refused(token, '"oid" is not in objectIds', { objectIds: [userAssigned.objectId] });
  });

  it('refuses evidence of another shape', async () => {
    for (const evidence of [{ type: 'jwt', token: 'a.b.c' }, { type: 'azure-managed-identity' }]) {
      await expectRefused(azureManagedIdentityTrustProvider.verify(evidence, config(), ctx), {
        code: 'evidence_invalid',
        message: "evidence must be { type: 'azure-managed-identity', token }",
        provider: PROVIDER,
      });
    }
  });

  it('fetches Entra ID\'s tenant keys by default, through the cloud fetch', async () => {
    const seen: string[] = [];
    const offline: VerifyContext = { ...ctx, fetch: async (input) => (seen.push(String(input)), Response.error()) };
    const token = await imds.mint(vmIdentity, RESOURCE);
    const provider = createAzureManagedIdentityTrustProvider({ keySource: createJwtKeySource() });
    await expectRefused(provider.verify({ type: 'azure-managed-identity', token }, { tenantId: TENANT, audience: RESOURCE }, offline), {
      code: 'trust_provider_error',
      message: 'JWKS',
      provider: PROVIDER,
    });
    expect(seen).toEqual([`https://login.microsoftonline.com/${TENANT}/discovery/v2.0/keys`]);
  });
});

describe('azure-managed-identity config', () => {
  const validate = (value: Record<string, unknown>) => validateProviderConfig(azureManagedIdentityTrustProvider, value);
  const problems = (value: Record<string, unknown>) => {
    const result = validate(value);
    return result.ok ? [] : result.errors.map((e) => `${e.path} ${e.message}`.trim());
  };

  it('needs the tenant and the audience, and fills the clock tolerance', () => {
    expect(validate({ tenantId: TENANT, audience: RESOURCE })).toEqual({ ok: true, value: { tenantId: TENANT, audience: RESOURCE, clockToleranceSeconds: 30 } });
    expect(problems({ audience: RESOURCE })).toEqual(['/tenantId is required']);
    expect(problems({ tenantId: TENANT })).toEqual(['/audience is required']);
    expect(problems({ tenantId: 'contoso.onmicrosoft.com', audience: RESOURCE })).toHaveLength(1);
    expect(problems({ tenantId: TENANT, audience: RESOURCE, algorithms: ['ES256'] })).toEqual(['/algorithms is not a known property']);
  });

  it('checks issuers, the keys URL and the allow-lists', () => {
    const base = { tenantId: TENANT, audience: RESOURCE };
    expect(problems({ ...base, issuers: [`https://sts.chinacloudapi.cn/${TENANT}/`, `https://login.chinacloudapi.cn/${TENANT}/v2.0`], jwksUri: `https://login.chinacloudapi.cn/${TENANT}/discovery/v2.0/keys` })).toEqual([]);
    expect(problems({ ...base, issuers: [`https://sts.windows.net/${OTHER_TENANT}/`] })).toEqual(['issuers must each contain the tenant id as a path segment (/<tenantId>/)']);
    expect(problems({ ...base, jwksUri: 'http://keys.example/jwks' })).toEqual(['jwksUri must use https (http only on a loopback host)']);
    expect(problems({ ...base, subscriptionIds: [] })).toHaveLength(1);
    expect(problems({ ...base, objectIds: ['nope'] })).toHaveLength(1);
    expect(validateConfig(azureManagedIdentityTrustProvider.configSchema, { ...base, subscriptionIds: [SUBSCRIPTION] }).ok).toBe(true);
  });

  it('fails closed at verification on a config the schema would have refused', async () => {
    const ctx: VerifyContext = { audience: 'https://tessera.test', now: () => NOW, fetch: () => Promise.reject(new Error('no network')) };
    await expectRefused(azureManagedIdentityTrustProvider.verify({ type: 'azure-managed-identity', token: 'a.b.c' }, { tenantId: TENANT } as AzureManagedIdentityConfig, ctx), {
      code: 'invalid_config',
      message: 'invalid configuration: audience must be the resource',
      provider: PROVIDER,
    });
  });

  it('registers like any trust provider', () => {
    expect(new ProviderRegistry().registerTrustProvider(azureManagedIdentityTrustProvider).listTrustProviders({ evidenceType: 'azure-managed-identity' })).toEqual([
      'azure-managed-identity',
    ]);
  });
});

describe('Azure resource ids (xms_mirid)', () => {
  it('parses both identity shapes and nested resources, lower-cased', () => {
    expect(parseAzureResourceId(USER_ASSIGNED_RESOURCE_ID)).toEqual({
      subscriptionId: SUBSCRIPTION,
      resourceGroup: 'payments-prod',
      resourceType: 'microsoft.managedidentity/userassignedidentities',
      resourceName: 'billing-identity',
      resourceId: USER_ASSIGNED_RESOURCE_ID.toLowerCase(),
    });
    expect(parseAzureResourceId(`/subscriptions/${SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/web/virtualMachines/3`)).toMatchObject({
      resourceType: 'microsoft.compute/virtualmachinescalesets/virtualmachines',
      resourceName: 'web/3',
    });
    expect(parseAzureResourceId(`/subscriptions/${SUBSCRIPTION}/resourcegroups/rg/providers/Microsoft.Web/sites/shop`)).toMatchObject({ resourceType: 'microsoft.web/sites', resourceName: 'shop' });
  });

  it('refuses anything else', () => {
    for (const bad of [
      '',
      `subscriptions/${SUBSCRIPTION}/resourcegroups/rg/providers/Microsoft.Compute/virtualMachines/vm`,
      `/subscriptions/${SUBSCRIPTION}/resourcegroups/rg`,
      `/subscriptions/${SUBSCRIPTION}/resourcegroups/rg/providers/Microsoft.Compute/virtualMachines`,
      `/subscriptions/${SUBSCRIPTION}/resourcegroups/rg/providers/Microsoft.Compute/virtualMachines/`,
      `/subscriptions/${SUBSCRIPTION}/resourcegroups/r g/providers/Microsoft.Compute/virtualMachines/vm`,
      `/subscriptions/${SUBSCRIPTION}/resourcegroups/rg/providers/Microsoft.Compute/virtualMachines/vm?x=1`,
      `/tenants/${SUBSCRIPTION}/resourcegroups/rg/providers/Microsoft.Compute/virtualMachines/vm`,
    ]) {
      expect(parseAzureResourceId(bad)).toBeUndefined();
    }
  });
});
