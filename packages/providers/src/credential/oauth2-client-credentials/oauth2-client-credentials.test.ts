import { createServer, type AddressInfo } from 'node:net';
import { exportPKCS8, generateKeyPair } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CredentialContext, CredentialRequest } from '../../contracts.js';
import { CredentialError } from '../../errors.js';
import { startFakeTokenServer, type FakeTokenServer } from '../../../test/support/fake-token-server.js';
import { createOAuth2ClientCredentialsProvider, type OAuth2ClientCredentialsConfig } from './index.js';

const request: CredentialRequest = {
  clientWorkload: { id: 'c1', name: 'billing', claims: {} },
  serverWorkload: { id: 's1', name: 'saas', host: 'api.saas.test', port: 443, scheme: 'https' },
  policyId: 'p1',
  resourceSet: { id: 'rs-1', name: 'payments' },
};
const BASIC_SECRET = 'b4sic:s3cret+/ü %';
const POST_SECRET = 'p0st-s3cret';

let server: FakeTokenServer;
let ecKeyPem: string;
let rsaKeyPem: string;
let fetchCalls: string[];
let context: CredentialContext;

beforeAll(async () => {
  const ec = await generateKeyPair('ES256', { extractable: true });
  const rsa = await generateKeyPair('RS256', { extractable: true });
  ecKeyPem = await exportPKCS8(ec.privateKey);
  rsaKeyPem = await exportPKCS8(rsa.privateKey);
  server = await startFakeTokenServer({
    'basic-client': { method: 'client_secret_basic', secret: BASIC_SECRET },
    'post-client': { method: 'client_secret_post', secret: POST_SECRET },
    'ec-client': { method: 'private_key_jwt', publicKey: ec.publicKey },
    'rsa-client': { method: 'private_key_jwt', publicKey: rsa.publicKey },
  });
});
afterAll(() => server.close());

beforeEach(() => {
  Object.assign(server, { requests: [], discoveries: 0, issued: 0, expiresIn: 3600, delayMs: 0, responder: undefined });
  fetchCalls = [];
  const now = new Date();
  context = {
    issuer: 'https://tessera.test',
    now: () => now,
    // The cloud's fetch: every outbound call must go through it.
    fetch: (input, init) => {
      fetchCalls.push(String(input));
      return fetch(input, init);
    },
  };
});

const config = (overrides: Partial<OAuth2ClientCredentialsConfig>): OAuth2ClientCredentialsConfig => ({
  tokenEndpoint: server.tokenEndpoint,
  clientId: 'basic-client',
  authMethod: 'client_secret_basic',
  timeoutMs: 5000,
  ...overrides,
});

describe('oauth2-client-credentials: client authentication', () => {
  it('authenticates with client_secret_basic through the cloud fetch', async () => {
    const provider = createOAuth2ClientCredentialsProvider();
    const credential = await provider.issue(request, config({}), { clientSecret: BASIC_SECRET }, context);
    expect(credential).toEqual({ kind: 'token', token: 'access-token-1', expiresAt: new Date(context.now().getTime() + 3_600_000) });
    expect(server.requests).toMatchObject([{ clientId: 'basic-client', authMethod: 'client_secret_basic' }]);
    expect(server.requests[0]?.form.get('grant_type')).toBe('client_credentials');
    expect(fetchCalls).toEqual([server.tokenEndpoint]);
  });

  it('authenticates with client_secret_post', async () => {
    const provider = createOAuth2ClientCredentialsProvider();
    const issued = await provider.issue(request, config({ clientId: 'post-client', authMethod: 'client_secret_post' }), { clientSecret: POST_SECRET }, context);
    expect(issued).toMatchObject({ kind: 'token', token: 'access-token-1' });
    expect(server.requests).toMatchObject([{ clientId: 'post-client', authMethod: 'client_secret_post' }]);
  });

  it('authenticates with private_key_jwt, aud = token endpoint, ES256 from the key type', async () => {
    const provider = createOAuth2ClientCredentialsProvider();
    const issued = await provider.issue(request, config({ clientId: 'ec-client', authMethod: 'private_key_jwt' }), { privateKey: ecKeyPem }, context);
    expect(issued.kind).toBe('token');
    const [recorded] = server.requests;
    expect(recorded?.authMethod).toBe('private_key_jwt');
    expect(recorded?.assertion?.header.alg).toBe('ES256');
    expect(recorded?.assertion?.payload).toMatchObject({ iss: 'ec-client', sub: 'ec-client', aud: server.tokenEndpoint });
  });

  it('signs RS256 for an RSA key, with aud = the configured issuer', async () => {
    const provider = createOAuth2ClientCredentialsProvider();
    const rsaConfig = config({ issuer: server.issuer, clientId: 'rsa-client', authMethod: 'private_key_jwt' });
    await provider.issue(request, rsaConfig, { privateKey: rsaKeyPem }, context);
    expect(server.requests[0]?.assertion?.header.alg).toBe('RS256');
    expect(server.requests[0]?.assertion?.payload.aud).toBe(server.issuer);
    expect(server.discoveries).toBe(0); // a tokenEndpoint skips discovery
  });

  it('sends scope, audience and every resource as form fields', async () => {
    const provider = createOAuth2ClientCredentialsProvider();
    const resource = ['https://api.saas.test/', 'https://files.saas.test/'];
    await provider.issue(request, config({ scope: 'read write', audience: 'https://api.saas.test', resource }), { clientSecret: BASIC_SECRET }, context);
    const form = server.requests[0]?.form;
    expect(form?.get('scope')).toBe('read write');
    expect(form?.get('audience')).toBe('https://api.saas.test');
    expect(form?.getAll('resource')).toEqual(resource);
  });

  it('discovers the token endpoint from the issuer once', async () => {
    const provider = createOAuth2ClientCredentialsProvider();
    const discovered = { tokenEndpoint: undefined, issuer: server.issuer };
    await provider.issue(request, config({ ...discovered, scope: 'a' }), { clientSecret: BASIC_SECRET }, context);
    await provider.issue(request, config({ ...discovered, scope: 'b' }), { clientSecret: BASIC_SECRET }, context);
    expect(server.discoveries).toBe(1);
    expect(server.requests).toHaveLength(2);
    expect(fetchCalls).toEqual([`${server.issuer}/.well-known/openid-configuration`, server.tokenEndpoint, server.tokenEndpoint]);
  });
});

describe('oauth2-client-credentials: errors', () => {
  it('reports a wrong secret with the OAuth error code, never the secret', async () => {
    const provider = createOAuth2ClientCredentialsProvider();
    for (const [method, clientId] of [['client_secret_basic', 'basic-client'], ['client_secret_post', 'post-client']] as const) {
      const wrongSecret = `wrong-${method}-secret`;
      const issuing = provider.issue(request, config({ clientId, authMethod: method }), { clientSecret: wrongSecret }, context);
      await expect(issuing).rejects.toBeInstanceOf(CredentialError);
      const error = (await issuing.catch((caught: unknown) => caught)) as CredentialError;
      expect(error.code).toBe('credential_provider_error');
      expect(error.message).toBe('credential(oauth2-client-credentials): the token endpoint refused the request: invalid_client');
      // The status and the server's own words are for the operator's log only.
      expect(error.upstream).toEqual({ endpoint: server.tokenEndpoint, status: 401, error: 'invalid_client', description: 'client authentication failed' });
      expect(JSON.stringify(error)).not.toContain(wrongSecret);
      expect(JSON.stringify(error)).not.toContain('client authentication failed');
      expect(error.cause).toBeUndefined();
    }
  });

  it('is refused when the assertion is signed with a key the server did not register', async () => {
    const provider = createOAuth2ClientCredentialsProvider();
    const wrongKey = config({ clientId: 'ec-client', authMethod: 'private_key_jwt' });
    const error = (await provider.issue(request, wrongKey, { privateKey: rsaKeyPem }, context).catch((caught: unknown) => caught)) as Error;
    expect(error.message).toContain('the token endpoint refused the request: invalid_client');
    expect(error.message).not.toContain('PRIVATE KEY');
    expect(server.requests).toHaveLength(0);
  });

  it('keeps the error description out of the message; the log gets it cut short, with a secret echoed in it redacted', async () => {
    const provider = createOAuth2ClientCredentialsProvider();
    server.responder = () => ({ status: 400, body: { error: 'invalid_scope', error_description: `internal host db-7.corp: ${POST_SECRET} ${'x'.repeat(100_000)}` } });
    const error = (await provider
      .issue(request, config({ clientId: 'post-client', authMethod: 'client_secret_post' }), { clientSecret: POST_SECRET }, context)
      .catch((caught: unknown) => caught)) as CredentialError;
    expect(error.message).toBe('credential(oauth2-client-credentials): the token endpoint refused the request: invalid_scope');
    expect(error.upstream?.description).toMatch(/^internal host db-7\.corp: \[redacted\] x+…$/);
    expect(error.upstream!.description!.length).toBeLessThanOrEqual(200);
    expect(JSON.stringify(error)).not.toContain('db-7');
  });

  it('names only registered OAuth error codes: anything else an upstream sends is just "no token"', async () => {
    const provider = createOAuth2ClientCredentialsProvider();
    server.responder = () => ({ status: 400, body: { error: 'password_for_admin_is_hunter2', error_description: 'x' } });
    const error = (await provider.issue(request, config({}), { clientSecret: BASIC_SECRET }, context).catch((caught: unknown) => caught)) as CredentialError;
    expect(error.message).toBe('credential(oauth2-client-credentials): no token from the token endpoint');
    expect(error.upstream).toMatchObject({ status: 400, error: 'password_for_admin_is_hunter2' });
  });

  it('says the same whether the endpoint is closed, slow, missing, failing or not an OAuth server (no port scanner)', async () => {
    const provider = createOAuth2ClientCredentialsProvider();
    const closed = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const attempts: Array<[string, () => void, Partial<OAuth2ClientCredentialsConfig>]> = [
      ['connection refused', () => {}, { tokenEndpoint: `http://127.0.0.1:${closed}/token` }],
      ['timeout', () => (server.delayMs = 1000), { timeoutMs: 100 }],
      ['HTTP 404', () => (server.responder = () => ({ status: 404, body: 'Not Found', headers: { 'content-type': 'text/plain' } })), {}],
      ['HTTP 500', () => (server.responder = () => ({ status: 500, body: { message: 'stack trace from db-7' } })), {}],
      ['an HTML page', () => (server.responder = () => ({ status: 200, body: '<html>intranet</html>', headers: { 'content-type': 'text/html' } })), {}],
      ['a redirect', () => (server.responder = () => ({ status: 302, body: '', headers: { location: 'http://127.0.0.1:1/' } })), {}],
    ];
    const answers: Array<{ name: string; message: string; upstream: unknown }> = [];
    for (const [name, arrange, overrides] of attempts) {
      Object.assign(server, { delayMs: 0, responder: undefined });
      arrange();
      const error = (await provider.issue(request, config(overrides), { clientSecret: BASIC_SECRET }, context).catch((caught: unknown) => caught)) as CredentialError;
      answers.push({ name, message: error.message, upstream: error.upstream });
    }
    for (const answer of answers) expect(answer.message, answer.name).toBe('credential(oauth2-client-credentials): no token from the token endpoint');
    // The operator's log tells them apart.
    expect(answers.map((answer) => answer.upstream)).toEqual([
      { endpoint: `http://127.0.0.1:${closed}/token`, failure: 'network', networkCode: 'ECONNREFUSED' },
      { endpoint: server.tokenEndpoint, failure: 'timeout' },
      { endpoint: server.tokenEndpoint, status: 404 },
      { endpoint: server.tokenEndpoint, status: 500 },
      expect.objectContaining({ endpoint: server.tokenEndpoint, failure: 'unreadable' }),
      { endpoint: server.tokenEndpoint, status: 302 },
    ]);
  });

  it('requires the secret that authMethod needs, before any request', async () => {
    const provider = createOAuth2ClientCredentialsProvider();
    const jwtConfig = config({ clientId: 'ec-client', authMethod: 'private_key_jwt' });
    await expect(provider.issue(request, jwtConfig, { clientSecret: 'not-a-key' }, context)).rejects.toMatchObject({
      code: 'invalid_config',
      message: 'credential(oauth2-client-credentials): secret privateKey is required for authMethod private_key_jwt',
    });
    await expect(provider.issue(request, config({}), { privateKey: ecKeyPem }, context)).rejects.toMatchObject({
      code: 'invalid_config',
      message: 'credential(oauth2-client-credentials): secret clientSecret is required for authMethod client_secret_basic',
    });
    const garbage = '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----';
    const badKey = await provider.issue(request, jwtConfig, { privateKey: garbage }, context).catch((caught: unknown) => caught);
    expect(badKey).toMatchObject({ code: 'invalid_config', message: 'credential(oauth2-client-credentials): secret privateKey is not a PEM private key' });
    expect(server.requests).toHaveLength(0);
  });

  it('refuses a private key that does not fit the configured algorithm', async () => {
    const provider = createOAuth2ClientCredentialsProvider();
    const rsConfig = config({ clientId: 'ec-client', authMethod: 'private_key_jwt', tokenEndpointAuthSigningAlg: 'RS256' });
    await expect(provider.issue(request, rsConfig, { privateKey: ecKeyPem }, context)).rejects.toMatchObject({
      code: 'invalid_config',
      message: 'credential(oauth2-client-credentials): secret privateKey must be a PEM PKCS#8 key usable with RS256',
    });
  });

  it('times out after timeoutMs', async () => {
    const provider = createOAuth2ClientCredentialsProvider();
    server.delayMs = 1000;
    const error = (await provider.issue(request, config({ timeoutMs: 100 }), { clientSecret: BASIC_SECRET }, context).catch((caught: unknown) => caught)) as CredentialError;
    expect(error).toMatchObject({ code: 'credential_provider_error', message: 'credential(oauth2-client-credentials): no token from the token endpoint' });
    expect(error.upstream).toEqual({ endpoint: server.tokenEndpoint, failure: 'timeout' });
  });

  it('fails closed on an unvalidated config', async () => {
    const provider = createOAuth2ClientCredentialsProvider();
    const insecure = config({ tokenEndpoint: 'http://tokens.example.com/token' });
    await expect(provider.issue(request, insecure, { clientSecret: BASIC_SECRET }, context)).rejects.toMatchObject({
      code: 'invalid_config',
      message: 'credential(oauth2-client-credentials): tokenEndpoint must use https (http only on a loopback host)',
    });
    expect(fetchCalls).toEqual([]);
  });
});
