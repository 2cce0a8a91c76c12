import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { VerifyContext } from '../../contracts.js';
import { describeJwtAttacks } from '../../../test/support/attack-suite.js';
import { AUDIENCE, createTestKey, expectRefused, jwksOf, NOW, NOW_SECONDS, signRaw, signToken, type TestKey } from '../../../test/support/jwt-fixtures.js';
import { type LoopbackServer, sendJson, startLoopbackServer } from '../../../test/support/loopback-server.js';
import type { JwtTrustConfig } from './config.js';
import { createJwtKeySource } from './key-source.js';
import { verifyJwt } from './verify-jwt.js';

describeJwtAttacks({
  name: 'verifyJwt',
  createVerifier: (config, keySource) => (token, ctx) => verifyJwt(token, config, ctx, keySource),
});

describe('verifyJwt', () => {
  let server: LoopbackServer;
  let first: TestKey;
  let second: TestKey;
  let served: { keys: unknown[] } | string;
  let issuer: string;
  const ctx: VerifyContext = { audience: AUDIENCE, now: () => NOW, fetch: (input, init) => fetch(input, init) };
  const payload = (extra: Record<string, unknown> = {}) => ({ iss: issuer, aud: AUDIENCE, sub: 'w-1', iat: NOW_SECONDS, exp: NOW_SECONDS + 300, ...extra });
  const remote = (): JwtTrustConfig => ({ issuer, jwksUri: `${issuer}/jwks` });

  beforeAll(async () => {
    [first, second] = await Promise.all([createTestKey('k1'), createTestKey('k2')]);
    server = await startLoopbackServer((request, response) => {
      if (request.url === '/idp/jwks' || request.url === '/idp/jwks-b') {
        if (typeof served === 'string') return void response.writeHead(200, { 'content-type': 'application/json' }).end(served);
        return sendJson(response, served);
      }
      if (request.url === '/idp/.well-known/openid-configuration') return sendJson(response, { issuer, jwks_uri: `${issuer}/jwks`, pad: 'x'.repeat(70_000) });
      sendJson(response, {}, 404);
    });
    issuer = `${server.origin}/idp`;
  });
  afterAll(() => server.close());
  beforeEach(() => {
    served = jwksOf(first);
    server.requests.length = 0;
  });

  it('returns the header, the claims and the expiry', async () => {
    const token = await signToken(payload({ team: 'billing' }), first);
    const result = await verifyJwt(token, remote(), ctx, createJwtKeySource());
    expect(result.header).toMatchObject({ alg: 'RS256', kid: 'k1' });
    expect(result.payload).toMatchObject({ sub: 'w-1', team: 'billing' });
    expect(result.expiresAt).toEqual(new Date((NOW_SECONDS + 300) * 1000));
  });

  it('fetches the JWKS once for concurrent and later verifications', async () => {
    const keys = createJwtKeySource();
    const token = await signToken(payload(), first);
    await Promise.all(Array.from({ length: 10 }, () => verifyJwt(token, remote(), ctx, keys)));
    await verifyJwt(token, remote(), ctx, keys);
    expect(server.count('/idp/jwks')).toBe(1);
  });

  it('keeps a bounded number of JWKS URLs, dropping the least recently used', async () => {
    const keys = createJwtKeySource({ maxEntries: 1 });
    const token = await signToken(payload(), first);
    for (const path of ['/idp/jwks', '/idp/jwks-b', '/idp/jwks', '/idp/jwks']) {
      await verifyJwt(token, { issuer, jwksUri: `${server.origin}${path}` }, ctx, keys);
    }
    expect(server.requests.map((r) => r.url)).toEqual(['/idp/jwks', '/idp/jwks-b', '/idp/jwks']);
  });

  it('picks up a rotated key with one refresh once the cooldown is over', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    try {
      const keys = createJwtKeySource();
      await verifyJwt(await signToken(payload(), first), remote(), ctx, keys);
      served = jwksOf(first, second);
      vi.setSystemTime(Date.now() + 31_000);
      await verifyJwt(await signToken(payload(), second), remote(), ctx, keys);
      expect(server.count('/idp/jwks')).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('tries each key when a token without "kid" matches several', async () => {
    served = jwksOf(first, second);
    const token = await signRaw({ alg: 'RS256' }, payload(), second);
    await expect(verifyJwt(token, remote(), ctx, createJwtKeySource())).resolves.toBeTruthy();
    const forged = await signRaw({ alg: 'RS256' }, payload(), await createTestKey('x'));
    await expectRefused(verifyJwt(forged, remote(), ctx, createJwtKeySource()), { code: 'evidence_invalid', message: 'signature verification failed' });
  });

  it('verifies with an inline JWKS without any fetch', async () => {
    const config: JwtTrustConfig = { issuer, jwks: jwksOf(first) };
    await expect(verifyJwt(await signToken(payload(), first), config, ctx, createJwtKeySource())).resolves.toBeTruthy();
    expect(server.requests).toEqual([]);
  });

  it('checks "aud" against the configured override instead of the cloud', async () => {
    const config = { ...remote(), audience: 'https://api.internal' };
    await expect(verifyJwt(await signToken(payload({ aud: ['x', 'https://api.internal'] }), first), config, ctx, createJwtKeySource())).resolves.toBeTruthy();
    const token = await signToken(payload(), first);
    await expectRefused(verifyJwt(token, config, ctx, createJwtKeySource()), { code: 'evidence_invalid', message: '"aud" mismatch', token });
  });

  it('refuses tokens older than maxTokenAgeSeconds, and tokens without "iat" then', async () => {
    const config = { ...remote(), maxTokenAgeSeconds: 60 };
    const old = await signToken(payload({ iat: NOW_SECONDS - 120 }), first);
    await expectRefused(verifyJwt(old, config, ctx, createJwtKeySource()), { code: 'evidence_expired', message: 'token too old', token: old });
    const undated = await signToken(payload({ iat: undefined }), first);
    await expectRefused(verifyJwt(undated, config, ctx, createJwtKeySource()), { code: 'evidence_invalid', message: 'missing "iat" claim' });
  });

  it('refuses non-numeric time claims and malformed tokens', async () => {
    const token = await signToken(payload({ exp: String(NOW_SECONDS + 300) }), first);
    await expectRefused(verifyJwt(token, remote(), ctx, createJwtKeySource()), { code: 'evidence_invalid', message: '"exp" claim is invalid', token });
    for (const bad of [undefined, 42, '', 'a.b', 'not a token', 'a.b.c.d', `${'é'}.b.c`]) {
      await expectRefused(verifyJwt(bad, remote(), ctx, createJwtKeySource()), { code: 'evidence_invalid', message: 'token' });
    }
    await expectRefused(verifyJwt('bm90IGpzb24.e30.c2ln', remote(), ctx, createJwtKeySource()), { code: 'evidence_invalid', message: 'malformed token header' });
  });

  it('reports a JWKS that is not JSON or not a key set as trust_provider_error', async () => {
    const token = await signToken(payload(), first);
    served = '<html>oops</html>';
    await expectRefused(verifyJwt(token, remote(), ctx, createJwtKeySource()), { code: 'trust_provider_error', message: 'JWKS response is not valid JSON', token });
    served = { keys: 'none' } as unknown as { keys: unknown[] };
    await expectRefused(verifyJwt(token, remote(), ctx, createJwtKeySource()), { code: 'trust_provider_error', message: 'not a valid key set', token });
  });

  it('refuses a discovery document over 64 KiB', async () => {
    const token = await signToken(payload(), first);
    await expectRefused(verifyJwt(token, { issuer, discovery: true }, ctx, createJwtKeySource()), {
      code: 'trust_provider_error',
      message: 'discovery document response too large',
    });
  });

  it('fails closed on a configuration the schema would have refused', async () => {
    const token = await signToken(payload(), first);
    const bad: JwtTrustConfig[] = [
      { ...remote(), algorithms: ['HS256'] },
      { ...remote(), jwks: jwksOf(first) },
      { issuer, jwksUri: 'http://keys.example.test/jwks' },
      { issuer },
      { ...remote(), clockToleranceSeconds: 3600 },
    ];
    for (const config of bad) await expectRefused(verifyJwt(token, config, ctx, createJwtKeySource()), { code: 'invalid_config', message: 'invalid configuration' });
    await expectRefused(verifyJwt(token, remote(), { ...ctx, audience: '' }, createJwtKeySource()), { code: 'invalid_config', message: 'no audience' });
  });

  it('prefixes messages with the provider type', async () => {
    const token = await signToken(payload({ aud: 'elsewhere' }), first);
    await expectRefused(verifyJwt(token, remote(), ctx, createJwtKeySource(), { provider: 'oidc' }), {
      code: 'evidence_invalid',
      message: 'trust(oidc): "aud" mismatch',
      provider: 'oidc',
      token,
    });
  });
});
