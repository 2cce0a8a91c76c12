import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CredentialContext, CredentialRequest, SignJwtOptions } from '../../contracts.js';
import { CredentialError } from '../../errors.js';
import { type LoopbackServer, sendJson, startLoopbackServer } from '../../../test/support/loopback-server.js';
import { validateConfig, validateProviderConfig } from '../../validate-config.js';
import { createAuthorityHttpClient } from './authority-client.js';
import { type FakeEntra, startFakeEntra, trustFakeEntraCertificate } from '../../../test/support/fake-entra.js';
import {
  type AzureWifConfig,
  azureWorkloadIdentityFederationProvider,
  createAzureWorkloadIdentityFederationProvider,
} from './index.js';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const APP = '0f1e2d3c-4b5a-4697-8877-665544332211';
const SCOPE = 'https://storage.azure.com/.default';

const billing: CredentialRequest = {
  clientWorkload: { id: '6f1c0e5e-1111-4c1e-9e55-000000000001', name: 'billing', claims: {} },
  serverWorkload: { id: 's1', name: 'blob', host: 'acme.blob.core.windows.net', port: 443, scheme: 'https' },
  policyId: 'p-1',
  resourceSet: { id: 'rs-1', name: 'payments' },
};
const reports: CredentialRequest = { ...billing, clientWorkload: { id: '6f1c0e5e-2222-4c1e-9e55-000000000002', name: 'reports', claims: {} } };
const intruder: CredentialRequest = { ...billing, clientWorkload: { id: '6f1c0e5e-3333-4c1e-9e55-000000000003', name: 'intruder', claims: {} } };
/** The assertion's `sub`: the resource set and the workload, by id. */
const subjectOf = (request: CredentialRequest) => `resource-set:${request.resourceSet.id}:client-workload:${request.clientWorkload.id}`;

interface SignedAssertion {
  token: string;
  options: SignJwtOptions;
}

let entra: FakeEntra;
let cloud: LoopbackServer;
let cloudIssuer: string;
let rsaKey: CryptoKey;
let ecKey: CryptoKey;
let cloudJwks: { keys: JWK[] };
let signed: SignedAssertion[];
let fetched: string[];
let httpTargets: string[];
let context: CredentialContext;
let untrust: () => void;

/** Mirrors the cloud's KeyRing.sign: sets iss/sub/aud/iat/exp/jti itself, signs with its key. */
function cloudSigner(alg: 'RS256' | 'ES256') {
  return async (payload: Record<string, unknown>, options: SignJwtOptions): Promise<string> => {
    const issuedAt = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ ...payload, jti: randomUUID() })
      .setProtectedHeader({ alg, kid: alg === 'RS256' ? 'cloud-rsa' : 'cloud-ec', typ: 'JWT' })
      .setIssuer(cloudIssuer)
      .setSubject(options.subject)
      .setAudience(options.audience)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + options.lifetimeSeconds)
      .sign(alg === 'RS256' ? rsaKey : ecKey);
    signed.push({ token, options });
    return token;
  };
}

/** Every HTTP request the process starts, through undici (fetch) or node:http(s). */
function recordHttpTargets(message: unknown, name: string | symbol): void {
  const request = (message as { request: { origin?: unknown; host?: string; protocol?: string; getHeader?: (name: string) => unknown } }).request;
  if (name === 'undici:request:create') httpTargets.push(String(request.origin));
  else httpTargets.push(`${request.protocol}//${String(request.getHeader?.('host') ?? request.host)}`);
}

beforeAll(async () => {
  const rsa = await generateKeyPair('RS256', { extractable: true });
  const ec = await generateKeyPair('ES256', { extractable: true });
  rsaKey = rsa.privateKey;
  ecKey = ec.privateKey;
  cloudJwks = {
    keys: [
      { ...(await exportJWK(rsa.publicKey)), kid: 'cloud-rsa', alg: 'RS256', use: 'sig' },
      { ...(await exportJWK(ec.publicKey)), kid: 'cloud-ec', alg: 'ES256', use: 'sig' },
    ],
  };
  // The control plane's public issuer endpoints, as Entra fetches them.
  cloud = await startLoopbackServer((request, response) => {
    if (request.url === '/.well-known/openid-configuration') return sendJson(response, { issuer: cloudIssuer, jwks_uri: `${cloudIssuer}/.well-known/jwks.json` });
    if (request.url === '/.well-known/jwks.json') return sendJson(response, cloudJwks);
    sendJson(response, {}, 404);
  });
  cloudIssuer = cloud.origin;
  untrust = trustFakeEntraCertificate();
  const fic = (subject: string) => ({ issuer: cloudIssuer, subject, audiences: ['api://AzureADTokenExchange'] });
  entra = await startFakeEntra({
    tenantId: TENANT,
    apps: [{ clientId: APP, federatedIdentityCredentials: [fic(subjectOf(billing)), fic(subjectOf(reports)), fic('resource-set:payments:client-workload:billing-by-name')] }],
  });
  subscribe('undici:request:create', recordHttpTargets);
  subscribe('http.client.request.created', recordHttpTargets);
});

afterAll(async () => {
  unsubscribe('undici:request:create', recordHttpTargets);
  unsubscribe('http.client.request.created', recordHttpTargets);
  await entra.close();
  await cloud.close();
  untrust();
});

beforeEach(() => {
  Object.assign(entra, { requests: [], verified: [], issued: 0, expiresIn: 3599, delayMs: 0, responder: undefined, metadataOverrides: {} });
  signed = [];
  fetched = [];
  httpTargets = [];
  context = {
    issuer: cloudIssuer,
    now: () => new Date(),
    // The control plane's outbound fetch (Node's own): every call must go through it.
    fetch: (input, init) => {
      fetched.push(String(input));
      return fetch(input, init);
    },
    signJwt: cloudSigner('RS256'),
  };
});

afterEach(() => {
  vi.useRealTimers();
});

const config = (overrides: Partial<AzureWifConfig> = {}): AzureWifConfig => ({
  tenantId: TENANT,
  clientId: APP,
  scope: SCOPE,
  authorityHost: entra.origin,
  ...overrides,
});

const TOKEN_PATH = `/${TENANT}/oauth2/v2.0/token`;
const METADATA_PATH = `/${TENANT}/v2.0/.well-known/openid-configuration`;

async function refusal(promise: Promise<unknown>): Promise<CredentialError> {
  const error = await promise.then(
    () => expect.fail('expected a refusal'),
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(CredentialError);
  const credentialError = error as CredentialError;
  // Nothing the cloud signed, nor any token, may show in the error.
  for (const { token } of signed) {
    expect(credentialError.message).not.toContain(token);
    for (const part of token.split('.')) expect(credentialError.message).not.toContain(part);
    expect(JSON.stringify(credentialError)).not.toContain(token);
    expect(String(credentialError.stack)).not.toContain(token);
  }
  expect(credentialError.message).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);
  return credentialError;
}

describe('azure-workload-identity-federation: token exchange', () => {
  it('exchanges a cloud-signed RS256 assertion for an Entra access token, talking only to the authority', async () => {
    const provider = createAzureWorkloadIdentityFederationProvider();
    const before = Date.now();
    const credential = await provider.issue(billing, config(), {}, context);
    expect(credential).toMatchObject({ kind: 'token', token: 'entra-access-token-1' });
    const expiresAt = (credential as { expiresAt: Date }).expiresAt.getTime();
    expect(expiresAt).toBeGreaterThanOrEqual(before + 3599_000 - 1000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 3599_000 + 1000);

    // The assertion Entra verified: the cloud as issuer, the workload id as subject, Entra's audience.
    expect(entra.verified).toHaveLength(1);
    const [{ clientId, scope, assertion }] = entra.verified as [(typeof entra.verified)[number]];
    expect({ clientId, scope }).toEqual({ clientId: APP, scope: expect.stringContaining(SCOPE) });
    expect(assertion.header).toMatchObject({ alg: 'RS256', kid: 'cloud-rsa' });
    expect(assertion.payload).toMatchObject({ iss: cloudIssuer, sub: 'resource-set:rs-1:client-workload:6f1c0e5e-1111-4c1e-9e55-000000000001', aud: 'api://AzureADTokenExchange' });
    expect((assertion.payload.exp ?? 0) - (assertion.payload.iat ?? 0)).toBe(300);
    // MSAL asks for an assertion for the app and one for the request; it sends one of them.
    expect(new Set(signed.map((s) => JSON.stringify(s.options)))).toEqual(
      new Set([JSON.stringify({ audience: 'api://AzureADTokenExchange', subject: subjectOf(billing), lifetimeSeconds: 300, algorithm: 'RS256' })]),
    );
    expect(signed.some((s) => s.token === entra.requests.find((r) => r.form)?.form?.get('client_assertion'))).toBe(true);
    const form = entra.requests.find((r) => r.form !== undefined)?.form;
    expect(form?.get('grant_type')).toBe('client_credentials');
    expect(form?.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');

    // Every request went through the cloud's fetch, to the fake authority, and nowhere else:
    // no instance discovery at login.microsoftonline.com/common/discovery/instance.
    expect(entra.requests.map((r) => `${r.method} ${r.url.split('?')[0]}`)).toEqual([`GET ${METADATA_PATH}`, `POST ${TOKEN_PATH}`]);
    expect(fetched.map((url) => url.split('?')[0])).toEqual([`${entra.origin}${METADATA_PATH}`, `${entra.origin}${TOKEN_PATH}`]);
    // Across the whole process, only the fake authority and (from the fake, as Entra would) the cloud's issuer were called.
    expect(new Set(httpTargets)).toEqual(new Set([entra.origin, cloudIssuer]));
  });
});

describe('azure-workload-identity-federation: caching', () => {
  it('shares one token per workload and scope; another scope reuses the credential, another workload gets its own', async () => {
    const provider = createAzureWorkloadIdentityFederationProvider();
    const first = await provider.issue(billing, config(), {}, context);
    const again = await provider.issue(billing, config(), {}, context);
    expect(again).toEqual(first);
    expect(entra.count(TOKEN_PATH)).toBe(1);
    expect(entra.requests).toHaveLength(2); // nothing more than the first exchange

    // Same workload, another scope: same ClientAssertionCredential (no new discovery), new token.
    const queues = await provider.issue(billing, config({ scope: 'https://queue.core.windows.net/.default' }), {}, context);
    expect(queues).toMatchObject({ token: 'entra-access-token-2' });
    expect({ metadata: entra.count(METADATA_PATH), tokens: entra.count(TOKEN_PATH) }).toEqual({ metadata: 1, tokens: 2 });

    // Another workload: its own credential and its own assertion subject.
    const other = await provider.issue(reports, config(), {}, context);
    expect(other).toMatchObject({ token: 'entra-access-token-3' });
    expect(entra.verified.map((v) => v.assertion.payload.sub)).toEqual([subjectOf(billing), subjectOf(billing), subjectOf(reports)]);
  });

  it('never hands a workload without a federated credential the token cached for another', async () => {
    const provider = createAzureWorkloadIdentityFederationProvider();
    await provider.issue(billing, config(), {}, context);
    const error = await refusal(provider.issue(intruder, config(), {}, context));
    expect(error.message).toContain('AADSTS700213');
  });

  it('lets concurrent misses share one token request', async () => {
    const provider = createAzureWorkloadIdentityFederationProvider();
    entra.delayMs = 150;
    const results = await Promise.all(Array.from({ length: 10 }, () => provider.issue(billing, config(), {}, context)));
    expect(new Set(results.map((r) => (r as { token: string }).token))).toEqual(new Set(['entra-access-token-1']));
    expect(entra.count(TOKEN_PATH)).toBe(1);
    expect(entra.count(METADATA_PATH)).toBe(1);
  });

  it('shares a token through most of its lifetime; MSAL renews it 5 minutes before expiry', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    const provider = createAzureWorkloadIdentityFederationProvider();
    const start = Date.now();
    await expect(provider.issue(billing, config(), {}, context)).resolves.toMatchObject({ token: 'entra-access-token-1' });
    for (const minutes of [30, 50, 54]) {
      vi.setSystemTime(start + minutes * 60_000);
      await expect(provider.issue(billing, config(), {}, context)).resolves.toMatchObject({ token: 'entra-access-token-1' });
    }
    expect(entra.count(TOKEN_PATH)).toBe(1);
    vi.setSystemTime(start + 58 * 60_000);
    const renewed = await provider.issue(billing, config(), {}, context);
    expect(renewed).toMatchObject({ token: 'entra-access-token-2' });
    expect((renewed as { expiresAt: Date }).expiresAt.getTime()).toBeGreaterThan(start + 58 * 60_000 + 3500_000);
    expect(entra.count(TOKEN_PATH)).toBe(2);
  });

  it('keeps a bounded number of credentials and can drop every cached token', async () => {
    const provider = createAzureWorkloadIdentityFederationProvider({ maxCredentials: 1 });
    await provider.issue(billing, config(), {}, context);
    await provider.issue(reports, config(), {}, context); // evicts billing's credential
    await provider.issue(billing, config({ scope: 'https://queue.core.windows.net/.default' }), {}, context);
    expect(entra.count(METADATA_PATH)).toBe(3); // a new credential each time: its MSAL cache went with the old one
    provider.clearTokenCache();
    await provider.issue(billing, config(), {}, context);
    expect(entra.count(TOKEN_PATH)).toBe(4);
    expect(() => createAzureWorkloadIdentityFederationProvider({ maxCredentials: 0 })).toThrow(RangeError);
  });

  it('uses the workload name as subject when asked', async () => {
    const provider = createAzureWorkloadIdentityFederationProvider();
    const named: CredentialRequest = { ...billing, clientWorkload: { ...billing.clientWorkload, name: 'billing-by-name' } };
    await expect(provider.issue(named, config({ subjectFormat: 'workload-name' }), {}, context)).resolves.toMatchObject({ kind: 'token' });
    expect(entra.verified[0]?.assertion.payload.sub).toBe('resource-set:payments:client-workload:billing-by-name');
  });

  it('never serves the token of one resource set to another that took its name (workload-name subjects)', async () => {
    const provider = createAzureWorkloadIdentityFederationProvider();
    const named: CredentialRequest = { ...billing, clientWorkload: { ...billing.clientWorkload, name: 'billing-by-name' } };
    // Set rs-1 was renamed and a new set took the name "payments", with a workload of the same name.
    const heir: CredentialRequest = {
      ...named,
      resourceSet: { id: 'rs-2', name: 'payments' },
      clientWorkload: { id: '6f1c0e5e-4444-4c1e-9e55-000000000004', name: 'billing-by-name', claims: {} },
    };
    const first = await provider.issue(named, config({ subjectFormat: 'workload-name' }), {}, context);
    const second = await provider.issue(heir, config({ subjectFormat: 'workload-name' }), {}, context);
    expect(second).not.toEqual(first);
    expect(entra.count(TOKEN_PATH)).toBe(2);
  });
});

describe('azure-workload-identity-federation: errors', () => {
  it('reports AADSTS700213 (no matching federated identity) by its codes; Entra\'s description only to the log, without the assertion', async () => {
    const provider = createAzureWorkloadIdentityFederationProvider();
    const error = await refusal(provider.issue(intruder, config(), {}, context));
    expect(error.code).toBe('credential_provider_error');
    expect(error.provider).toBe('azure-workload-identity-federation');
    expect(error.message).toBe('credential(azure-workload-identity-federation): Entra ID refused the token request: invalid_client (AADSTS700213)');
    expect(error.upstream).toMatchObject({
      endpoint: `${entra.origin}/${TENANT}`,
      status: 401,
      error: 'invalid_client',
      description: expect.stringMatching(/^AADSTS700213: No matching federated identity record found for presented assertion subject 'resource-set:rs-1:client-workload:6f1c0e5e-3333-4c1e-9e55-000000000003'\./),
    });
    expect(error.cause).toBeUndefined();
    expect(signed.length).toBeGreaterThan(0);
    // A failure is not cached: the next call asks Entra again.
    await refusal(provider.issue(intruder, config(), {}, context));
    expect(entra.count(TOKEN_PATH)).toBe(2);
  });

  it('cuts out an assertion or token that Entra would echo, and long descriptions', async () => {
    const provider = createAzureWorkloadIdentityFederationProvider();
    entra.responder = () => ({
      status: 400,
      body: { error: 'invalid_request', error_description: `AADSTS50027: bad token ${signed.at(-1)?.token ?? ''} ${'x'.repeat(5000)}`, error_codes: [50027] },
    });
    const error = await refusal(provider.issue(billing, config(), {}, context));
    expect(error.message).toBe('credential(azure-workload-identity-federation): Entra ID refused the token request: invalid_request (AADSTS50027)');
    expect(error.upstream?.description).toMatch(/^AADSTS50027: bad token \[redacted\] x+…$/);
    expect(error.upstream!.description!.length).toBeLessThanOrEqual(200);
  });

  it('refuses an assertion the cloud signed with ES256 before sending it (Entra answers AADSTS5002738)', async () => {
    const provider = createAzureWorkloadIdentityFederationProvider();
    const error = await refusal(provider.issue(billing, config(), {}, { ...context, signJwt: cloudSigner('ES256') }));
    expect(error.message).toBe(
      'credential(azure-workload-identity-federation): the control plane signed the client assertion with ES256, but Entra ID accepts only RSA signatures (RS256) on federated tokens',
    );
    expect(entra.count(TOKEN_PATH)).toBe(0);
  });

  it('reports what Entra says about an ES256 assertion, should one get there', async () => {
    entra.responder = undefined;
    const es256 = await cloudSigner('ES256')({}, { audience: 'api://AzureADTokenExchange', subject: billing.clientWorkload.id, lifetimeSeconds: 300 });
    const response = await fetch(`${entra.origin}${TOKEN_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: APP, scope: SCOPE, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: es256 }).toString(),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_request', error_codes: [5002738] });
  });

  it('never sends anything to an origin other than authorityHost, even when discovery points there', async () => {
    const attacker = await startFakeEntra({ tenantId: TENANT, apps: [] });
    try {
      entra.metadataOverrides = { token_endpoint: `${attacker.origin}/${TENANT}/oauth2/v2.0/token` };
      const provider = createAzureWorkloadIdentityFederationProvider();
      const error = await refusal(provider.issue(billing, config(), {}, context));
      expect(error.message).toBe('credential(azure-workload-identity-federation): the token request to Entra ID failed');
      expect(error.upstream).toEqual({ endpoint: `${attacker.origin}/${TENANT}/oauth2/v2.0/token`, failure: 'refused_url' });
      expect(attacker.requests).toEqual([]);
      expect(fetched.every((url) => url.startsWith(`${entra.origin}/`))).toBe(true);
      expect(httpTargets).not.toContain(attacker.origin);
    } finally {
      await attacker.close();
    }
  });

  it('says the same for an unreachable authority and a failing one (no port scanner); the log tells them apart', async () => {
    const provider = createAzureWorkloadIdentityFederationProvider();
    const closed = await startFakeEntra({ tenantId: TENANT, apps: [] });
    await closed.close();
    const unreachable = await refusal(provider.issue(billing, config({ authorityHost: closed.origin }), {}, context));
    expect(unreachable.message).toBe('credential(azure-workload-identity-federation): the token request to Entra ID failed');
    expect(unreachable.upstream).toEqual({ endpoint: `${closed.origin}/${TENANT}/v2.0/.well-known/openid-configuration`, failure: 'network', networkCode: 'ECONNREFUSED' });

    // A server error that is not JSON, after one retry: MSAL makes up "server_error" for it.
    entra.responder = () => ({ status: 503, text: '<html>Service Unavailable</html>' });
    const failing = await refusal(provider.issue(billing, config(), {}, context));
    expect(failing.message).toBe('credential(azure-workload-identity-federation): the token request to Entra ID failed');
    expect(failing.upstream).toMatchObject({ status: 503, error: 'server_error' });
    expect(entra.count(TOKEN_PATH)).toBe(2);
  });

  it('fails closed without a signer, and wraps a failing signer', async () => {
    const provider = createAzureWorkloadIdentityFederationProvider();
    const { signJwt: _unused, ...withoutSigner } = context;
    const error = await refusal(provider.issue(billing, config(), {}, withoutSigner));
    expect(error.message).toBe('credential(azure-workload-identity-federation): the cloud offers no JWT signer (ctx.signJwt)');
    const failing = { ...context, signJwt: () => Promise.reject(new RangeError('no active signing key')) };
    const wrapped = await refusal(provider.issue(billing, config(), {}, failing));
    expect(wrapped.message).toBe('credential(azure-workload-identity-federation): signing the client assertion failed');
    expect(entra.count(TOKEN_PATH)).toBe(0);
  });

  it('stops waiting when the caller aborts, without failing the shared request', async () => {
    const provider = createAzureWorkloadIdentityFederationProvider();
    entra.delayMs = 200;
    const controller = new AbortController();
    const aborted = provider.issue(billing, config(), {}, { ...context, signal: controller.signal });
    const patient = provider.issue(billing, config(), {}, context);
    setTimeout(() => controller.abort(), 20);
    const error = await refusal(aborted);
    expect(error.message).toBe('credential(azure-workload-identity-federation): token request aborted');
    await expect(patient).resolves.toMatchObject({ token: 'entra-access-token-1' });
  });
});

describe('azure-workload-identity-federation: configuration', () => {
  const validate = (value: Record<string, unknown>) => validateProviderConfig(azureWorkloadIdentityFederationProvider, value);
  const problems = (value: Record<string, unknown>) => {
    const result = validate(value);
    return result.ok ? [] : result.errors.map((e) => `${e.path} ${e.message}`.trim());
  };
  const base = { tenantId: TENANT, clientId: APP, scope: SCOPE };

  it('fills the defaults: public cloud authority, Entra\'s exchange audience, the workload id as subject', () => {
    expect(validate(base)).toEqual({
      ok: true,
      value: {
        ...base,
        authorityHost: 'https://login.microsoftonline.com',
        assertionAudience: 'api://AzureADTokenExchange',
        subjectFormat: 'workload-id',
        timeoutMs: 5000,
      },
    });
    expect(validate({ ...base, authorityHost: 'https://login.microsoftonline.us/', assertionAudience: 'api://AzureADTokenExchangeUSGov' }).ok).toBe(true);
  });

  it('refuses ids that are not GUIDs, scopes that are not .default, and unknown fields', () => {
    expect(problems({ ...base, tenantId: 'contoso.onmicrosoft.com' })).toEqual(['/tenantId must match pattern "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"']);
    expect(problems({ ...base, clientId: '' })).toHaveLength(1);
    expect(problems({ ...base, scope: 'https://storage.azure.com/user_impersonation' })).toHaveLength(1);
    expect(problems({ ...base, scope: 'a b/.default' })).toHaveLength(1);
    expect(problems({ ...base, clientSecret: 'x' })).toEqual(['/clientSecret is not a known property']);
    expect(problems({ ...base, subjectFormat: 'email' })).toHaveLength(1);
    expect(problems({ ...base, timeoutMs: 50 })).toEqual(['/timeoutMs must be >= 100']);
  });

  it('needs an https authority origin', () => {
    expect(problems({ ...base, authorityHost: 'http://login.microsoftonline.com' })).toEqual(['authorityHost must use https']);
    expect(problems({ ...base, authorityHost: 'https://login.microsoftonline.com/common' })).toEqual(['authorityHost must be an origin, without path, query or fragment']);
    expect(problems({ ...base, authorityHost: 'https://user:pw@login.example' })).toEqual(['authorityHost must not contain credentials']);
    expect(problems({ ...base, authorityHost: 'login.microsoftonline.com' })).toEqual(['authorityHost must be an absolute URL']);
  });

  it('takes no secrets', () => {
    expect(validateConfig(azureWorkloadIdentityFederationProvider.secretsSchema, {})).toEqual({ ok: true, value: {} });
    expect(validateConfig(azureWorkloadIdentityFederationProvider.secretsSchema, { clientSecret: 's' }).ok).toBe(false);
  });

  it('fails closed on an unvalidated config, before any request', async () => {
    const provider = createAzureWorkloadIdentityFederationProvider();
    const bad = { ...config(), authorityHost: 'http://127.0.0.1:1', scope: 'openid' } as AzureWifConfig;
    await expect(provider.issue(billing, bad, {}, context)).rejects.toMatchObject({
      code: 'invalid_config',
      message: 'credential(azure-workload-identity-federation): scope must be one resource\'s ".default" scope, e.g. https://storage.azure.com/.default; authorityHost must use https',
    });
    expect(fetched).toEqual([]);
  });
});

describe('azure-workload-identity-federation: authority HTTP client', () => {
  it('refuses any origin but the authority, and caps responses', async () => {
    const failures: string[] = [];
    const seen: string[] = [];
    const client = createAuthorityHttpClient({
      authorityOrigin: 'https://login.example',
      timeoutMs: 1000,
      fetch: () => async (input) => (seen.push(String(input)), new Response('x'.repeat(300 * 1024), { status: 200 })),
      onFailure: (error) => failures.push(error.message),
    });
    const request = (url: string) =>
      client.sendRequest({ url, method: 'GET', headers: new Headers() as never, timeout: 0, withCredentials: false, requestId: 'r' } as never);
    await expect(request('https://login.microsoftonline.com/common/discovery/instance')).rejects.toMatchObject({
      message: 'request to https://login.microsoftonline.com refused: only the configured authorityHost https://login.example may be called',
      upstream: { endpoint: 'https://login.microsoftonline.com/common/discovery/instance', failure: 'refused_url' },
    });
    await expect(request('http://login.example/x')).rejects.toThrow('refused');
    await expect(request('https://login.example/big?secret=1')).rejects.toMatchObject({
      message: 'response from https://login.example/big too large (over 262144 bytes)',
      upstream: { endpoint: 'https://login.example/big', status: 200, failure: 'too_large' },
    });
    expect(seen).toEqual(['https://login.example/big?secret=1']);
    expect(failures).toHaveLength(3);
  });
});
