import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CredentialContext, CredentialRequest, SignJwtOptions } from '../../contracts.js';
import { CredentialError } from '../../errors.js';
import { createTestKey, jwksOf, type TestKey } from '../../../test/support/jwt-fixtures.js';
import { closedPortUrl, type LoopbackServer, sendJson, startLoopbackServer } from '../../../test/support/loopback-server.js';
import { FAKE_POOL_PROVIDER_AUDIENCE, type FakeGoogle, startFakeGoogle } from '../../../test/support/fake-google-sts.js';
import { createGcpWorkloadIdentityFederationProvider, type GcpWifConfig } from './index.js';

const SERVICE_ACCOUNT = 'storage-reader@acme-prod.iam.gserviceaccount.com';
const READ_ONLY = 'https://www.googleapis.com/auth/devstorage.read_only';
const billing: CredentialRequest = {
  clientWorkload: { id: '01a20929-5a93-70da-b594-4afd84a44aa5', name: 'billing', claims: {} },
  serverWorkload: { id: 's1', name: 'gcs', host: 'storage.googleapis.com', port: 443, scheme: 'https' },
  policyId: 'p1',
  resourceSet: { id: 'rs-1', name: 'payments' },
};
const reports: CredentialRequest = { ...billing, clientWorkload: { id: '01a20929-5a93-70da-b594-4afd84a44bb6', name: 'reports', claims: {} } };

let cloud: LoopbackServer;
let cloudKey: TestKey;
let google: FakeGoogle;
let fetchCalls: string[];
let signed: string[];
let context: CredentialContext;

/** Mirrors the cloud's KeyRing.sign: ES256 with a kid, iss/sub/aud/iat/exp/jti from the options. */
function cloudSigner(issuer: string) {
  return async (payload: Record<string, unknown>, options: SignJwtOptions): Promise<string> => {
    const iat = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ ...payload, iss: issuer, sub: options.subject, aud: options.audience, iat, exp: iat + options.lifetimeSeconds, jti: randomBytes(16).toString('base64url') })
      .setProtectedHeader({ alg: 'ES256', kid: cloudKey.kid, typ: 'JWT' })
      .sign(cloudKey.privateKey);
    signed.push(token);
    return token;
  };
}

beforeAll(async () => {
  cloudKey = await createTestKey('cloud-key-1', 'ES256');
  // The cloud as an OIDC issuer: what Google's OIDC provider reads.
  cloud = await startLoopbackServer((request, response) => {
    if (request.url === '/.well-known/jwks.json') return sendJson(response, jwksOf(cloudKey));
    if (request.url === '/.well-known/openid-configuration') return sendJson(response, { issuer: cloud.origin, jwks_uri: `${cloud.origin}/.well-known/jwks.json` });
    sendJson(response, { error: 'not found' }, 404);
  });
  google = await startFakeGoogle({ issuer: cloud.origin, jwksUri: `${cloud.origin}/.well-known/jwks.json`, impersonable: [SERVICE_ACCOUNT] });
});
afterAll(async () => {
  await Promise.all([google.close(), cloud.close()]);
});

beforeEach(() => {
  google.reset();
  fetchCalls = [];
  signed = [];
  const now = new Date();
  context = {
    issuer: cloud.origin,
    now: () => now,
    // The cloud's fetch: every outbound call must go through it.
    fetch: (input, init) => {
      fetchCalls.push(String(input));
      return fetch(input, init);
    },
    signJwt: cloudSigner(cloud.origin),
  };
});

const config = (overrides: Partial<GcpWifConfig> = {}): GcpWifConfig => ({
  audience: FAKE_POOL_PROVIDER_AUDIENCE,
  tokenUrl: google.tokenUrl,
  iamCredentialsEndpoint: google.iamEndpoint,
  ...overrides,
});
const impersonationUrl = () => `${google.origin}/v1/projects/-/serviceAccounts/${SERVICE_ACCOUNT}:generateAccessToken`;

/** Awaits a rejection: a credential_provider_error that names the failure and leaks no token. */
async function expectProviderError(promise: Promise<unknown>, message: string): Promise<CredentialError> {
  const error = await promise.then(
    () => expect.fail(`expected a refusal: ${message}`),
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(CredentialError);
  const credentialError = error as CredentialError;
  expect({ code: credentialError.code, provider: credentialError.provider }).toEqual({ code: 'credential_provider_error', provider: 'gcp-workload-identity-federation' });
  expect(credentialError.message).toContain(message);
  for (const token of signed) {
    expect(credentialError.message).not.toContain(token);
    for (const segment of token.split('.')) expect(credentialError.message).not.toContain(segment);
  }
  expect(credentialError.message).not.toMatch(/ya29\./);
  expect(credentialError.cause).toBeUndefined();
  // The operator's details, too, hold no token.
  const upstream = JSON.stringify(credentialError.upstream ?? {});
  for (const token of signed) expect(upstream).not.toContain(token);
  expect(upstream).not.toMatch(/ya29\./);
  return credentialError;
}

describe('gcp-workload-identity-federation: token exchange', () => {
  it('exchanges a cloud-signed JWT for a federated token, through the cloud fetch only', async () => {
    const provider = createGcpWorkloadIdentityFederationProvider();
    const credential = await provider.issue(billing, config(), {}, context);
    expect(credential).toEqual({ kind: 'token', token: 'ya29.fake-sts-1', expiresAt: new Date(context.now().getTime() + 3_600_000) });

    expect(google.stsRequests).toHaveLength(1);
    const [exchange] = google.stsRequests;
    expect(Object.fromEntries(exchange?.form ?? [])).toMatchObject({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      audience: FAKE_POOL_PROVIDER_AUDIENCE,
      scope: 'https://www.googleapis.com/auth/cloud-platform',
      requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    });
    // The STS verified the subject token against the cloud's JWKS; these are its claims.
    expect(exchange?.header).toMatchObject({ alg: 'ES256', kid: 'cloud-key-1' });
    expect(exchange?.claims).toMatchObject({ iss: cloud.origin, aud: FAKE_POOL_PROVIDER_AUDIENCE, sub: 'resource-set:rs-1:client-workload:01a20929-5a93-70da-b594-4afd84a44aa5', client_workload: 'billing' });
    expect((exchange?.claims.exp ?? 0) - (exchange?.claims.iat ?? 0)).toBe(300);

    // Every request Google's fakes received went through the cloud's fetch, and nothing else did.
    expect(fetchCalls).toEqual([google.tokenUrl]);
    expect(google.requests).toEqual(['POST /v1/token']);
  });

  it('impersonates a service account: STS with cloud-platform, then generateAccessToken with the configured scopes', async () => {
    const provider = createGcpWorkloadIdentityFederationProvider();
    google.nowMs = () => context.now().getTime();
    const credential = await provider.issue(billing, config({ serviceAccountEmail: SERVICE_ACCOUNT, scopes: [READ_ONLY], tokenLifetimeSeconds: 600 }), {}, context);
    expect(credential).toEqual({ kind: 'token', token: 'ya29.fake-sa-1', expiresAt: new Date(context.now().getTime() + 600_000) });
    expect(google.stsRequests[0]?.form.get('scope')).toBe('https://www.googleapis.com/auth/cloud-platform');
    expect(google.iamRequests).toEqual([{ email: SERVICE_ACCOUNT, bearer: 'ya29.fake-sts-1', body: { scope: [READ_ONLY], lifetime: '600s' } }]);
    expect(fetchCalls).toEqual([google.tokenUrl, impersonationUrl()]);
    expect(google.requests).toEqual(['POST /v1/token', `POST /v1/projects/-/serviceAccounts/${SERVICE_ACCOUNT}:generateAccessToken`]);
  });

  it('caches per client workload and config: a hit costs nothing, another workload or config exchanges again', async () => {
    const provider = createGcpWorkloadIdentityFederationProvider();
    const first = await provider.issue(billing, config(), {}, context);
    const again = await provider.issue({ ...billing, policyId: 'p2' }, config(), {}, context);
    expect(again).toEqual(first);
    expect(google.stsRequests).toHaveLength(1);

    await expect(provider.issue(reports, config(), {}, context)).resolves.toMatchObject({ token: 'ya29.fake-sts-2' });
    expect(google.stsRequests[1]?.claims.sub).toBe(`resource-set:rs-1:client-workload:${reports.clientWorkload.id}`);
    await expect(provider.issue(billing, config({ scopes: [READ_ONLY] }), {}, context)).resolves.toMatchObject({ token: 'ya29.fake-sts-3' });
    expect(google.stsRequests).toHaveLength(3);

    provider.clearTokenCache();
    await expect(provider.issue(billing, config(), {}, context)).resolves.toMatchObject({ token: 'ya29.fake-sts-4' });
  });

  it("never serves one resource set's token to a twin in another set (same config, same workload name)", async () => {
    const provider = createGcpWorkloadIdentityFederationProvider();
    const first = await provider.issue(billing, config(), {}, context);
    const twin: CredentialRequest = { ...billing, resourceSet: { id: 'rs-2', name: 'tenant-b' }, clientWorkload: { ...billing.clientWorkload, id: 'twin-workload' } };
    const second = await provider.issue(twin, config(), {}, context);
    expect(second).not.toEqual(first);
    expect(google.stsRequests.map((r) => r.claims.sub)).toEqual([`resource-set:rs-1:client-workload:${billing.clientWorkload.id}`, 'resource-set:rs-2:client-workload:twin-workload']);
  });

  it('refreshes once most of the lifetime has passed', async () => {
    const provider = createGcpWorkloadIdentityFederationProvider();
    const start = context.now().getTime();
    let nowMs = start;
    const clocked = { ...context, now: () => new Date(nowMs) };
    await provider.issue(billing, config(), {}, clocked);
    nowMs = start + 2_600_000; // 1000 s of 3600 left: over 25%, still shared
    await expect(provider.issue(billing, config(), {}, clocked)).resolves.toMatchObject({ token: 'ya29.fake-sts-1' });
    nowMs = start + 2_800_000; // 800 s left: under 25%
    await expect(provider.issue(billing, config(), {}, clocked)).resolves.toMatchObject({ token: 'ya29.fake-sts-2' });
  });

  it('shares one exchange among concurrent misses', async () => {
    const provider = createGcpWorkloadIdentityFederationProvider();
    google.delayMs = 100;
    const results = await Promise.all(Array.from({ length: 8 }, () => provider.issue(billing, config({ serviceAccountEmail: SERVICE_ACCOUNT }), {}, context)));
    expect(new Set(results.map((r) => (r.kind === 'token' ? r.token : '')))).toEqual(new Set(['ya29.fake-sa-1']));
    expect(google.stsRequests).toHaveLength(1);
    expect(google.iamRequests).toHaveLength(1);
    expect(signed).toHaveLength(1);
  });

  it('lets one caller give up without failing the others', async () => {
    const provider = createGcpWorkloadIdentityFederationProvider();
    google.delayMs = 200;
    const controller = new AbortController();
    const patient = provider.issue(billing, config(), {}, context);
    const hasty = provider.issue(billing, config(), {}, { ...context, signal: controller.signal });
    controller.abort();
    await expectProviderError(hasty, 'token exchange aborted');
    await expect(patient).resolves.toMatchObject({ token: 'ya29.fake-sts-1' });
  });
});

describe('gcp-workload-identity-federation: errors', () => {
  it('reports a JWT audience the provider does not allow as invalid_grant, without any token', async () => {
    const provider = createGcpWorkloadIdentityFederationProvider();
    const error = await expectProviderError(
      provider.issue(billing, config({ jwtAudience: 'https://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/other/providers/x' }), {}, context),
      'credential(gcp-workload-identity-federation): Google STS token exchange refused: invalid_grant',
    );
    // Google's words and the status are for the operator's log only.
    expect(error.message).not.toContain('audience');
    expect(error.upstream).toEqual({
      endpoint: google.tokenUrl,
      status: 400,
      error: 'invalid_grant',
      description: expect.stringMatching(/^The audience in ID Token does not match the expected audience/),
    });
    expect(google.stsRequests).toHaveLength(0);
    expect(signed).toHaveLength(1);
  });

  it('redacts the JWT and access tokens should Google echo them', async () => {
    const provider = createGcpWorkloadIdentityFederationProvider();
    google.stsResponder = (form) => ({ status: 400, body: { error: 'invalid_grant', error_description: `bad token ${form.get('subject_token')} (was ya29.leaked-token)` } });
    const error = await expectProviderError(provider.issue(billing, config(), {}, context), 'Google STS token exchange refused: invalid_grant');
    expect(error.upstream?.description).toBe('bad token [redacted] (was [redacted])');
  });

  it('reports a refused impersonation with the Google API error status', async () => {
    const provider = createGcpWorkloadIdentityFederationProvider();
    const other = 'admin@acme-prod.iam.gserviceaccount.com';
    const error = await expectProviderError(provider.issue(billing, config({ serviceAccountEmail: other }), {}, context), 'IAM Credentials generateAccessToken refused: PERMISSION_DENIED');
    expect(error.upstream).toMatchObject({ status: 403, error: 'PERMISSION_DENIED', description: expect.stringContaining("Permission 'iam.serviceAccounts.getAccessToken' denied") });
    expect(google.iamRequests.map((r) => r.email)).toEqual([other]);
  });

  it('says the same whether an endpoint is down, slow or broken (no port scanner), without retrying', async () => {
    const provider = createGcpWorkloadIdentityFederationProvider();
    const down = await closedPortUrl('/v1/token');
    const failed = 'credential(gcp-workload-identity-federation): Google STS token exchange failed';
    const closed = await expectProviderError(provider.issue(billing, config({ tokenUrl: down }), {}, context), failed);
    expect(closed.message).toBe(failed);
    expect(closed.upstream).toEqual({ endpoint: down, failure: 'network', networkCode: 'ECONNREFUSED' });

    google.delayMs = 1000;
    const slow = await expectProviderError(provider.issue(billing, config({ timeoutMs: 200 }), {}, context), failed);
    expect(slow.message).toBe(failed);
    expect(slow.upstream).toEqual({ endpoint: google.tokenUrl, failure: 'timeout' });
    google.delayMs = 0;

    google.reset();
    google.stsResponder = () => ({ status: 503, body: '<html>unavailable</html>', contentType: 'text/html' });
    const broken = await expectProviderError(provider.issue(billing, config(), {}, context), failed);
    expect(broken.message).toBe(failed);
    expect(broken.upstream).toEqual({ endpoint: google.tokenUrl, status: 503 });
    expect(google.requests).toEqual(['POST /v1/token']);
  });

  it('does not cache a failure', async () => {
    const provider = createGcpWorkloadIdentityFederationProvider();
    google.stsResponder = () => ({ status: 400, body: { error: 'invalid_grant', error_description: 'nope' } });
    await expectProviderError(provider.issue(billing, config(), {}, context), 'refused: invalid_grant');
    google.stsResponder = undefined;
    await expect(provider.issue(billing, config(), {}, context)).resolves.toMatchObject({ token: 'ya29.fake-sts-1' });
  });

  it('refuses an answer without an access token', async () => {
    const provider = createGcpWorkloadIdentityFederationProvider();
    google.stsResponder = () => ({ status: 200, body: { token_type: 'Bearer', expires_in: 3600 } });
    await expectProviderError(provider.issue(billing, config(), {}, context), 'Google STS returned no access_token');
  });

  it('fails closed without the cloud signer, and wraps a signer failure', async () => {
    const provider = createGcpWorkloadIdentityFederationProvider();
    const { signJwt: _unused, ...unsigned } = context;
    await expectProviderError(provider.issue(billing, config(), {}, unsigned), 'the cloud offers no JWT signer (ctx.signJwt)');
    const failing = { ...context, signJwt: () => Promise.reject(new RangeError('no active signing key')) };
    await expect(provider.issue(billing, config(), {}, failing)).rejects.toMatchObject({
      code: 'credential_provider_error',
      message: 'credential(gcp-workload-identity-federation): signing the workload JWT failed',
    });
    expect(google.requests).toEqual([]);
  });

  it('fails closed on an unvalidated config', async () => {
    const provider = createGcpWorkloadIdentityFederationProvider();
    await expect(provider.issue(billing, config({ tokenUrl: 'http://sts.example.com/v1/token' }), {}, context)).rejects.toMatchObject({
      code: 'invalid_config',
      message: 'credential(gcp-workload-identity-federation): tokenUrl must use https (http only on a loopback host)',
    });
    expect(signed).toEqual([]);
    expect(fetchCalls).toEqual([]);
  });
});
