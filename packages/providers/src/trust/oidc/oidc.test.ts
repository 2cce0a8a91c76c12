import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VerifyContext } from '../../contracts.js';
import { ProviderRegistry } from '../../registry.js';
import { validateProviderConfig } from '../../validate-config.js';
import { createJwtKeySource } from '../jwt/key-source.js';
import { describeJwtAttacks } from '../../../test/support/attack-suite.js';
import { AUDIENCE, createTestKey, expectRefused, jwksOf, NOW, NOW_SECONDS, signToken, type TestKey } from '../../../test/support/jwt-fixtures.js';
import { createOidcCollector, createOidcTrustProvider, type OidcConfig, oidcTrustProvider } from './index.js';

describeJwtAttacks({
  name: 'oidc',
  provider: 'oidc',
  createVerifier: (config, keySource) => {
    const provider = createOidcTrustProvider({ keySource });
    return (token, ctx) => provider.verify({ type: 'jwt', token }, config, ctx);
  },
});

describe('oidc trust provider', () => {
  const issuer = 'https://login.example.com';
  const ctx: VerifyContext = { audience: AUDIENCE, now: () => NOW, fetch: () => Promise.reject(new Error('no network')) };
  let key: TestKey;
  let config: OidcConfig;

  beforeAll(async () => {
    key = await createTestKey('k1', 'ES256');
    config = { issuer, jwks: jwksOf(key) };
  });

  const verify = async (claims: Record<string, unknown>) => {
    const token = await signToken({ iss: issuer, aud: AUDIENCE, iat: NOW_SECONDS, exp: NOW_SECONDS + 300, ...claims }, key);
    return { token, result: createOidcTrustProvider({ keySource: createJwtKeySource() }).verify({ type: 'jwt', token }, config, ctx) };
  };

  it('vouches for the issuer, the subject and every top-level scalar claim', async () => {
    const { result } = await verify({
      sub: 'user-42',
      email: 'dev@example.com',
      email_verified: true,
      auth_time: 1700000000,
      'urn:example:tenant': 'acme',
      groups: ['admin'],
      address: { country: 'FR' },
      'has space': 'x',
      ['n'.repeat(65)]: 'too long a name',
      nothing: null,
    });
    await expect(result).resolves.toEqual({
      claims: {
        'oidc.issuer': issuer,
        'oidc.subject': 'user-42',
        'oidc.claim.iss': issuer,
        'oidc.claim.sub': 'user-42',
        'oidc.claim.aud': AUDIENCE,
        'oidc.claim.iat': String(NOW_SECONDS),
        'oidc.claim.exp': String(NOW_SECONDS + 300),
        'oidc.claim.email': 'dev@example.com',
        'oidc.claim.email_verified': 'true',
        'oidc.claim.auth_time': '1700000000',
        'oidc.claim.urn:example:tenant': 'acme',
      },
      expiresAt: new Date((NOW_SECONDS + 300) * 1000),
      subject: 'user-42',
    });
  });

  it('refuses a token without a subject', async () => {
    const { token, result } = await verify({});
    await expectRefused(result, { code: 'evidence_invalid', message: 'trust(oidc): missing "sub" claim', provider: 'oidc', token });
  });

  it('refuses evidence that is not { type: "jwt", token }', async () => {
    for (const evidence of [{ type: 'kubernetes-token', token: 'a.b.c' }, { type: 'jwt' }, { type: 'jwt', token: 7 }]) {
      await expectRefused(oidcTrustProvider.verify(evidence, config, ctx), { code: 'evidence_invalid', message: "evidence must be { type: 'jwt', token }", provider: 'oidc' });
    }
  });

  it('registers like any provider and validates its config', () => {
    expect(new ProviderRegistry().registerTrustProvider(oidcTrustProvider).listTrustProviders({ evidenceType: 'jwt' })).toEqual(['oidc']);
    expect(validateProviderConfig(oidcTrustProvider, { issuer, discovery: true })).toMatchObject({ ok: true });
    expect(validateProviderConfig(oidcTrustProvider, { issuer, discovery: true, jwksUri: 'https://k.example/jwks' })).toEqual({
      ok: false,
      errors: [{ path: '', message: 'exactly one of jwksUri, jwks or discovery: true must be set' }],
    });
    expect(validateProviderConfig(oidcTrustProvider, { issuer, jwksUri: 'http://k.example/jwks' })).toEqual({
      ok: false,
      errors: [{ path: '', message: 'jwksUri must use https (http only on a loopback host)' }],
    });
  });
});

describe('oidc collector', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-oidc-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('asks getToken for a token for the cloud audience', async () => {
    const audiences: string[] = [];
    const collector = createOidcCollector({ getToken: async (audience) => (audiences.push(audience), 'h.p.s') });
    expect(await collector.detect()).toBe(true);
    await expect(collector.collect({ audience: AUDIENCE })).resolves.toEqual({ type: 'jwt', token: 'h.p.s' });
    expect(audiences).toEqual([AUDIENCE]);
  });

  it('reads the file named by TESSERA_OIDC_TOKEN_FILE again on every collect', async () => {
    const file = join(dir, 'token');
    const collector = createOidcCollector({ env: { TESSERA_OIDC_TOKEN_FILE: file } });
    expect(await collector.detect()).toBe(false);
    await writeFile(file, 'first.token.value\n');
    expect(await collector.detect()).toBe(true);
    await expect(collector.collect({ audience: AUDIENCE })).resolves.toEqual({ type: 'jwt', token: 'first.token.value' });
    await writeFile(file, 'second.token.value');
    await expect(collector.collect({ audience: AUDIENCE })).resolves.toEqual({ type: 'jwt', token: 'second.token.value' });
  });

  it('reads a token from TESSERA_OIDC_TOKEN at every collect; the file wins when both are set', async () => {
    const env: Record<string, string | undefined> = { TESSERA_OIDC_TOKEN: 'env.token.one' };
    const collector = createOidcCollector({ env });
    expect(await collector.detect()).toBe(true);
    await expect(collector.collect({ audience: AUDIENCE })).resolves.toEqual({ type: 'jwt', token: 'env.token.one' });
    env.TESSERA_OIDC_TOKEN = ' env.token.two\n';
    await expect(collector.collect({ audience: AUDIENCE })).resolves.toEqual({ type: 'jwt', token: 'env.token.two' });
    env.TESSERA_OIDC_TOKEN = 'x'.repeat(17 * 1024);
    await expectRefused(collector.collect({ audience: AUDIENCE }), { code: 'evidence_invalid', message: '16 KiB', provider: 'oidc' });
    env.TESSERA_OIDC_TOKEN_FILE = '/nonexistent/token';
    expect(await collector.detect()).toBe(false);
  });

  it('is inactive without a token source', async () => {
    const collector = createOidcCollector({ env: {} });
    expect(await collector.detect()).toBe(false);
    await expectRefused(collector.collect({ audience: AUDIENCE }), { code: 'invalid_config', message: 'no token source', provider: 'oidc' });
  });
});
