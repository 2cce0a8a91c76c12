import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CredentialContext, CredentialRequest } from '../../contracts.js';
import { startFakeTokenServer, type FakeTokenServer } from '../../../test/support/fake-token-server.js';
import { createOAuth2ClientCredentialsProvider, type OAuth2ClientCredentialsConfig, type OAuth2ClientCredentialsProvider } from './index.js';
import { TokenCache } from '../token-cache.js';

const request: CredentialRequest = {
  clientWorkload: { id: 'c1', name: 'billing', claims: {} },
  serverWorkload: { id: 's1', name: 'saas', host: 'api.saas.test', port: 443, scheme: 'https' },
  policyId: 'p1',
  resourceSet: { id: 'rs-1', name: 'payments' },
};
const SECRET = 'cache-test-secret';
const secrets = { clientSecret: SECRET };

let server: FakeTokenServer;
let provider: OAuth2ClientCredentialsProvider;
let nowMs: number;
let context: CredentialContext;

beforeAll(async () => {
  server = await startFakeTokenServer({
    'cache-client': { method: 'client_secret_post', secret: SECRET },
    'rotated-client': { method: 'client_secret_post', secret: 'rotated' },
  });
});
afterAll(() => server.close());

beforeEach(() => {
  Object.assign(server, { requests: [], discoveries: 0, issued: 0, expiresIn: 3600, delayMs: 0, responder: undefined });
  provider = createOAuth2ClientCredentialsProvider();
  nowMs = Date.parse('2025-06-01T12:00:00Z');
  context = { issuer: 'https://tessera.test', now: () => new Date(nowMs), fetch };
});

const config = (overrides: Partial<OAuth2ClientCredentialsConfig> = {}): OAuth2ClientCredentialsConfig => ({
  tokenEndpoint: server.tokenEndpoint,
  clientId: 'cache-client',
  authMethod: 'client_secret_post',
  ...overrides,
});
const issue = (overrides?: Partial<OAuth2ClientCredentialsConfig>) => provider.issue(request, config(overrides), secrets, context);

describe('oauth2-client-credentials: token cache', () => {
  it('serves a cached token until 75% of its lifetime has passed', async () => {
    const first = await issue();
    expect(await issue()).toEqual(first);
    nowMs += 0.7 * 3_600_000;
    expect(await issue()).toEqual(first);
    expect(server.requests).toHaveLength(1);

    nowMs += 0.1 * 3_600_000; // 80% of the lifetime gone
    const second = await issue();
    expect(second).toMatchObject({ token: 'access-token-2', expiresAt: new Date(nowMs + 3_600_000) });
    expect(server.requests).toHaveLength(2);
  });

  it('shares one token request between 20 concurrent misses', async () => {
    server.delayMs = 50;
    const results = await Promise.all(Array.from({ length: 20 }, () => issue()));
    expect(server.requests).toHaveLength(1);
    expect(new Set(results.map((result) => (result.kind === 'token' ? result.token : '')))).toEqual(new Set(['access-token-1']));
  });

  it('keeps one entry per scope, audience, resource and secret', async () => {
    await issue({ scope: 'read' });
    await issue({ scope: 'write' });
    await issue({ scope: 'read', audience: 'https://api.saas.test' });
    await issue({ scope: 'read', resource: 'https://api.saas.test/' });
    await issue({ scope: 'read' });
    expect(server.requests.map((recorded) => recorded.form.get('scope'))).toEqual(['read', 'write', 'read', 'read']);

    // A rotated secret must not be served the token the old one obtained.
    const rotated = { clientSecret: 'rotated' };
    await provider.issue(request, config({ clientId: 'rotated-client' }), rotated, context);
    await expect(provider.issue(request, config({ clientId: 'rotated-client' }), { clientSecret: 'wrong' }, context)).rejects.toThrow(
      /invalid_client/,
    );
    expect(server.requests).toHaveLength(5);
  });

  it("never serves one resource set's token to another set's provider with the same public fields and a wrong secret", async () => {
    const otherSet: CredentialRequest = { ...request, resourceSet: { id: 'rs-2', name: 'tenant-b' }, clientWorkload: { id: 'c2', name: 'billing', claims: {} } };
    const guess = { clientSecret: 'a-guess' };
    // While A's request is in flight, and once A's token is cached.
    server.delayMs = 50;
    const [ownToken, whileInFlight] = await Promise.allSettled([issue(), provider.issue(otherSet, config(), guess, context)]);
    expect(ownToken).toMatchObject({ status: 'fulfilled', value: { token: 'access-token-1' } });
    expect(whileInFlight).toMatchObject({ status: 'rejected', reason: { message: expect.stringContaining('invalid_client') } });
    await expect(provider.issue(otherSet, config(), guess, context)).rejects.toThrow(/invalid_client/);
    expect(server.requests).toHaveLength(1); // the guesses were refused at client authentication
  });

  it('does not cache a failed request', async () => {
    server.responder = () => ({ status: 400, body: { error: 'invalid_request' } });
    await expect(issue()).rejects.toThrow('the token endpoint refused the request: invalid_request');
    server.responder = () => ({ status: 503, body: { error: 'temporarily_unavailable' } });
    await expect(issue()).rejects.toThrow('no token from the token endpoint');
    server.responder = undefined;
    await expect(issue()).resolves.toMatchObject({ token: 'access-token-1' });
    expect(server.requests).toHaveLength(3);
  });

  it('assumes 5 minutes for a token without expires_in', async () => {
    server.expiresIn = undefined;
    expect(await issue()).toMatchObject({ token: 'access-token-1', expiresAt: new Date(nowMs + 300_000) });
    nowMs += 200_000;
    expect(await issue()).toMatchObject({ token: 'access-token-1' });
    nowMs += 30_000; // 70 s left: under a quarter of the lifetime
    expect(await issue()).toMatchObject({ token: 'access-token-2' });
  });

  it('does not cache a token living less than a minute', async () => {
    server.expiresIn = 45;
    await issue();
    await issue();
    expect(server.requests).toHaveLength(2);
  });

  it('evicts the least recently used entry beyond its bound, and can be cleared', async () => {
    provider = createOAuth2ClientCredentialsProvider({ maxCachedTokens: 2 });
    await issue({ scope: 'a' });
    await issue({ scope: 'b' });
    await issue({ scope: 'a' }); // a is now the most recently used
    await issue({ scope: 'c' }); // evicts b
    await issue({ scope: 'a' });
    expect(server.requests).toHaveLength(3);
    await issue({ scope: 'b' });
    expect(server.requests).toHaveLength(4);
    provider.clearTokenCache();
    await issue({ scope: 'b' });
    expect(server.requests).toHaveLength(5);
  });

  it('lets one caller give up without cancelling the shared request', async () => {
    server.delayMs = 50;
    const controller = new AbortController();
    const impatient = provider.issue(request, config(), secrets, { ...context, signal: controller.signal });
    const patient = issue();
    controller.abort();
    await expect(impatient).rejects.toThrow('token request aborted');
    await expect(patient).resolves.toMatchObject({ token: 'access-token-1' });
    expect(server.requests).toHaveLength(1);
  });
});

describe('TokenCache keys', () => {
  it('hold a keyed digest of the secret, never the secret', () => {
    const cache = new TokenCache(10);
    const parts = { endpoint: 'https://idp.test/token', clientId: 'c', authMethod: 'client_secret_post', signingAlg: undefined };
    const key = cache.key({ ...parts, scope: 'a', audience: undefined, resources: [], secret: 'super-secret-value' });
    expect(key).not.toContain('super-secret-value');
    expect(cache.key({ ...parts, scope: 'a', audience: undefined, resources: [], secret: 'other' })).not.toBe(key);
    // Another instance uses another digest key: a dumped key is useless elsewhere.
    expect(new TokenCache(10).key({ ...parts, scope: 'a', audience: undefined, resources: [], secret: 'super-secret-value' })).not.toBe(key);
    expect(() => new TokenCache(0)).toThrow(RangeError);
  });
});
