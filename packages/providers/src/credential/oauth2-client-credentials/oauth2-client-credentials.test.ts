import { exportPKCS8, generateKeyPair } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CredentialContext, CredentialRequest } from '../../contracts.js';
import { CredentialError } from '../../errors.js';
import { startFakeTokenServer, type FakeTokenServer } from './fake-token-server.js';
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
      expect(error.message).toBe(
        'credential(oauth2-client-credentials): token endpoint refused: invalid_client: client authentication failed (HTTP 401)',
      );
      expect(JSON.stringify(error)).not.toContain(wrongSecret);
      expect(error.cause).toBeUndefined();
    }
  });

  it('is refused when the assertion is signed with a key the server did not register', async () => {
    const provider = createOAuth2ClientCredentialsProvider();
    const wrongKey = config({ clientId: 'ec-client', authMethod: 'private_key_jwt' });
    const error = (await provider.issue(request, wrongKey, { privateKey: rsaKeyPem }, context).catch((caught: unknown) => caught)) as Error;
    expect(error.message).toContain('token endpoint refused: invalid_client');
    expect(error.message).not.toContain('PRIVATE KEY');
    expect(server.requests).toHaveLength(0);
  });

  it('truncates a huge error description and redacts a secret echoed in it', async () => {
    const provider = createOAuth2ClientCredentialsProvider();
    server.responder = () => ({ status: 400, body: { error: 'invalid_scope', error_description: `${POST_SECRET} ${'x'.repeat(100_000)}` } });
    const error = (await provider
      .issue(request, config({ clientId: 'post-client', authMethod: 'client_secret_post' }), { clientSecret: POST_SECRET }, context)
      .catch((caught: unknown) => caught)) as CredentialError;
    expect(error.message).toMatch(/^credential\(oauth2-client-credentials\): token endpoint refused: invalid_scope: \[redacted\] x+… \(HTTP 400\)$/);
    expect(error.message).not.toContain(POST_SECRET);
    expect(error.message.length).toBeLessThan(300);
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
    await expect(provider.issue(request, config({ timeoutMs: 100 }), { clientSecret: BASIC_SECRET }, context)).rejects.toMatchObject({
      code: 'credential_provider_error',
      message: 'credential(oauth2-client-credentials): token request timed out after 100 ms',
    });
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
