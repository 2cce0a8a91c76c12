import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig, validateProviderConfig } from '../../validate-config.js';
import { isLoopbackHost } from '../../http/endpoint-url.js';
import { startFakeTokenServer, type FakeTokenServer } from '../../../test/support/fake-token-server.js';
import { createOAuth2ClientCredentialsProvider, oauth2ClientCredentialsProvider as provider } from './index.js';

const base = { clientId: 'client', authMethod: 'client_secret_basic' };
const validate = (config: Record<string, unknown>) => validateProviderConfig(provider, config);
const problems = (config: Record<string, unknown>) => {
  const result = validate(config);
  return result.ok ? [] : result.errors.map((error) => `${error.path} ${error.message}`.trim());
};

describe('oauth2-client-credentials config', () => {
  it('fills the default timeout and keeps the rest as given', () => {
    expect(validate({ ...base, tokenEndpoint: 'https://idp.example.com/oauth/token' })).toEqual({
      ok: true,
      value: { ...base, tokenEndpoint: 'https://idp.example.com/oauth/token', timeoutMs: 5000 },
    });
    expect(validate({ ...base, issuer: 'https://idp.example.com', scope: 'a b:c', resource: ['https://api.test/'] }).ok).toBe(true);
  });

  it('requires https, or http on a loopback host only', () => {
    expect(problems({ ...base, tokenEndpoint: 'http://idp.example.com/token' })).toEqual([
      'tokenEndpoint must use https (http only on a loopback host)',
    ]);
    expect(problems({ ...base, issuer: 'http://10.0.0.8' })).toEqual(['issuer must use https (http only on a loopback host)']);
    for (const loopback of ['http://localhost:8080/token', 'http://127.0.0.1:1/token', 'http://[::1]:9/token']) {
      expect(problems({ ...base, tokenEndpoint: loopback })).toEqual([]);
    }
    expect(problems({ ...base, tokenEndpoint: 'ftp://idp.example.com/token' })).toHaveLength(1);
    expect(problems({ ...base, tokenEndpoint: 'https://user:pw@idp.example.com/token' })).toEqual([
      'tokenEndpoint must not contain credentials',
    ]);
    expect(problems({ ...base, tokenEndpoint: 'not a url' })).toEqual(['tokenEndpoint must be an absolute URL']);
  });

  it('knows which hosts are loopback', () => {
    expect(['localhost', 'LOCALHOST', '127.0.0.1', '[::1]'].map(isLoopbackHost)).toEqual([true, true, true, true]);
    const others = ['api.localhost', 'localhost.evil.test', '127.0.0.2', '10.0.0.1', 'example.com', '[::2]'];
    expect(others.map(isLoopbackHost)).toEqual(others.map(() => false));
  });

  it('needs an issuer or a token endpoint, and a known auth method', () => {
    expect(problems(base)).toEqual(['one of issuer or tokenEndpoint is required']);
    expect(problems({ ...base, tokenEndpoint: 'https://idp.test/t', authMethod: 'client_secret_jwt' })).toEqual([
      '/authMethod must be one of "client_secret_basic", "client_secret_post", "private_key_jwt"',
    ]);
    expect(problems({ tokenEndpoint: 'https://idp.test/t', authMethod: 'client_secret_post' })).toEqual(['/clientId is required']);
  });

  it('refuses a signing algorithm without private_key_jwt, bad scopes and resources with a fragment', () => {
    const endpoint = { tokenEndpoint: 'https://idp.test/t' };
    expect(problems({ ...base, ...endpoint, tokenEndpointAuthSigningAlg: 'ES256' })).toEqual([
      'tokenEndpointAuthSigningAlg applies only to authMethod private_key_jwt',
    ]);
    expect(problems({ ...endpoint, clientId: 'c', authMethod: 'private_key_jwt', tokenEndpointAuthSigningAlg: 'HS256' })).toHaveLength(1);
    expect(problems({ ...base, ...endpoint, scope: 'a  b' })).toHaveLength(1);
    expect(problems({ ...base, ...endpoint, scope: 'quote"d' })).toHaveLength(1);
    expect(problems({ ...base, ...endpoint, resource: 'https://api.test/#x' })).toEqual(['resource must be absolute URLs without a fragment']);
    expect(problems({ ...base, ...endpoint, timeoutMs: 50 })).toEqual(['/timeoutMs must be >= 100']);
  });

  it('accepts either secret, both optional, and nothing else', () => {
    expect(validateConfig(provider.secretsSchema, {}).ok).toBe(true);
    expect(validateConfig(provider.secretsSchema, { clientSecret: 's', privateKey: 'k' }).ok).toBe(true);
    expect(validateConfig(provider.secretsSchema, { clientSecret: '' }).ok).toBe(false);
    expect(validateConfig(provider.secretsSchema, { password: 'p' })).toEqual({
      ok: false,
      errors: [{ path: '/password', message: 'is not a known property' }],
    });
  });
});

describe('oauth2-client-credentials discovery', () => {
  let server: FakeTokenServer;
  beforeAll(async () => {
    server = await startFakeTokenServer({ c: { method: 'client_secret_post', secret: 's' } });
  });
  afterAll(() => server.close());

  it('refuses a discovered token endpoint that is plain http off loopback', async () => {
    server.metadataOverrides = { token_endpoint: 'http://tokens.example.com/token' };
    const config = { issuer: server.issuer, clientId: 'c', authMethod: 'client_secret_post' as const, timeoutMs: 1000 };
    const context = { issuer: 'https://tessera.test', now: () => new Date(), fetch };
    await expect(createOAuth2ClientCredentialsProvider().issue(
      { clientWorkload: { id: 'c1', name: 'a', claims: {} }, serverWorkload: { id: 's', name: 'b', host: 'h', port: 443, scheme: 'https' }, policyId: 'p', resourceSet: { id: 'rs-1', name: 'payments' } },
      config,
      { clientSecret: 's' },
      context,
    )).rejects.toMatchObject({
      code: 'credential_provider_error',
      message: 'credential(oauth2-client-credentials): discovered token_endpoint must use https (http only on a loopback host)',
    });
    expect(server.requests).toHaveLength(0);
  });
});
