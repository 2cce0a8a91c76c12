/**
 * Test support: the attacks of the JWT attack suite, one test each. `attack-suite.ts`
 * provides the servers and keys; the target decides which verifier runs.
 */
import { expect, type TestAPI, vi } from 'vitest';
import type { VerifyContext } from '../../src/contracts.js';
import type { JwtKeySourceOptions } from '../../src/trust/jwt/key-source.js';
import {
  expectRefused,
  hmacWithPublicKey,
  NOW_SECONDS,
  signRaw,
  signRs384,
  signToken,
  type ExpectedRefusal,
  type TestKey,
  unsignedToken,
} from './jwt-fixtures.js';
import { closedPortUrl, type LoopbackServer } from './loopback-server.js';

/** Key configuration the suite hands to a provider: the rest is the provider's default. */
export interface AttackKeyConfig {
  issuer: string;
  jwksUri?: string;
  discovery?: true;
}

export interface AttackEnvironment {
  state: { jwks: 'ok' | 'hang' | 'huge' | 'error'; discoveryIssuer: string | undefined; discoveryJwksUri: string | undefined };
  /** Every URL the verifier fetched through `ctx.fetch`. */
  fetched: string[];
  rsa: TestKey;
  ec: TestKey;
  evil: TestKey;
  issuer: string;
  issuerServer: LoopbackServer;
  attacker: LoopbackServer;
  provider: string | undefined;
  context(): VerifyContext;
  payload(overrides?: Record<string, unknown>): Record<string, unknown>;
  verifier(config?: AttackKeyConfig, options?: JwtKeySourceOptions): (token: string, ctx: VerifyContext) => Promise<unknown>;
}

const JWKS_PATH = '/idp/jwks';

export function defineAttackTests(env: AttackEnvironment, it: TestAPI): void {
  const verify = (token: string, config?: AttackKeyConfig, options?: JwtKeySourceOptions) => env.verifier(config, options)(token, env.context());
  const refused = (token: string, expected: Omit<ExpectedRefusal, 'token' | 'provider'>, config?: AttackKeyConfig, options?: JwtKeySourceOptions) =>
    expectRefused(verify(token, config, options), { ...expected, token, provider: env.provider, allowedValues: [env.issuer] });

  it('accepts a valid RS256 token and a valid ES256 token', async () => {
    await expect(verify(await signToken(env.payload(), env.rsa))).resolves.toBeTruthy();
    await expect(verify(await signToken(env.payload(), env.ec))).resolves.toBeTruthy();
  });

  it('refuses alg "none" (an unsigned token)', async () => {
    await refused(unsignedToken(env.payload(), env.rsa.kid), { code: 'evidence_invalid', message: '"alg" not allowed' });
    expect(env.fetched).toEqual([]);
  });

  it('refuses HS256 signed with the public key as HMAC secret (key confusion)', async () => {
    await refused(await hmacWithPublicKey(env.payload(), env.rsa), { code: 'evidence_invalid', message: '"alg" not allowed' });
    await refused(await hmacWithPublicKey(env.payload(), env.ec), { code: 'evidence_invalid', message: '"alg" not allowed' });
  });

  it('refuses an algorithm outside the allowed list, even correctly signed (RS384)', async () => {
    await refused(await signRs384(env.payload(), env.rsa), { code: 'evidence_invalid', message: '"alg" not allowed' });
  });

  it('refuses a wrong "iss"', async () => {
    const token = await signToken(env.payload({ iss: 'https://evil-issuer.example' }), env.rsa);
    await refused(token, { code: 'evidence_invalid', message: 'unexpected "iss"' });
  });

  it('refuses a wrong "aud"', async () => {
    const token = await signToken(env.payload({ aud: 'https://another-cloud.example' }), env.rsa);
    await refused(token, { code: 'evidence_invalid', message: '"aud" mismatch' });
  });

  it('refuses a token without "aud"', async () => {
    await refused(await signToken(env.payload({ aud: undefined }), env.rsa), { code: 'evidence_invalid', message: 'missing "aud" claim' });
  });

  it('refuses a token expired beyond the clock tolerance', async () => {
    const token = await signToken(env.payload({ iat: NOW_SECONDS - 900, exp: NOW_SECONDS - 31 }), env.rsa);
    await refused(token, { code: 'evidence_expired', message: 'token expired ("exp")' });
  });

  it('accepts a token expired just inside the clock tolerance', async () => {
    const exp = NOW_SECONDS - 29; // 29 s ago, tolerance 30 s
    await expect(verify(await signToken(env.payload({ exp }), env.rsa))).resolves.toBeTruthy();
  });

  it('refuses "nbf" in the future', async () => {
    const nbf = NOW_SECONDS + 31;
    await refused(await signToken(env.payload({ nbf }), env.rsa), { code: 'evidence_invalid', message: '"nbf"' });
  });

  it('refuses a token without "exp"', async () => {
    await refused(await signToken(env.payload({ exp: undefined }), env.rsa), { code: 'evidence_invalid', message: 'missing "exp" claim' });
  });

  it('refuses "iat" in the future', async () => {
    const iat = NOW_SECONDS + 31;
    await refused(await signToken(env.payload({ iat }), env.rsa), { code: 'evidence_invalid', message: '"iat" is in the future' });
  });

  it('refuses a "jku" header pointing at an attacker JWKS, and never fetches it', async () => {
    const token = await signToken(env.payload(), env.evil, { jku: `${env.attacker.origin}/jwks` });
    await refused(token, { code: 'evidence_invalid', message: 'forbidden "jku" header' });
    expect(env.attacker.requests).toEqual([]);
    expect(env.fetched).toEqual([]);
  });

  it('refuses an "x5u" header, and never fetches it', async () => {
    const token = await signToken(env.payload(), env.evil, { x5u: `${env.attacker.origin}/cert.pem` });
    await refused(token, { code: 'evidence_invalid', message: 'forbidden "x5u" header' });
    expect(env.attacker.requests).toEqual([]);
  });

  it('refuses an embedded "jwk" header carrying the attacker key', async () => {
    const token = await signToken(env.payload(), env.evil, { jwk: env.evil.publicJwk });
    await refused(token, { code: 'evidence_invalid', message: 'forbidden "jwk" header' });
  });

  it('refuses "x5c" and "crit" headers', async () => {
    await refused(await signToken(env.payload(), env.rsa, { x5c: ['MIIB'] }), { code: 'evidence_invalid', message: 'forbidden "x5c" header' });
    await refused(await signToken(env.payload(), env.rsa, { crit: ['exp'] }), { code: 'evidence_invalid', message: 'forbidden "crit" header' });
  });

  it('refuses a token over 16 KiB before parsing it', async () => {
    const token = await signToken(env.payload({ padding: 'x'.repeat(16 * 1024) }), env.rsa);
    await refused(token, { code: 'evidence_invalid', message: 'token too large' });
    expect(env.fetched).toEqual([]);
  });

  it('refuses a token signed by another key under a known "kid"', async () => {
    const token = await signRaw({ alg: 'RS256', kid: env.rsa.kid }, env.payload(), env.evil);
    await refused(token, { code: 'evidence_invalid', message: 'signature verification failed' });
  });

  it('refuses an unknown key after one JWKS refresh, and refreshes no more within the cooldown', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    try {
      const verifyWith = env.verifier();
      const context = env.context();
      await verifyWith(await signToken(env.payload(), env.rsa), context);
      expect(env.issuerServer.count(JWKS_PATH)).toBe(1);
      vi.setSystemTime(Date.now() + 31_000); // past the 30 s cooldown
      const unknown = await signToken(env.payload(), env.evil, { kid: 'unknown-1' });
      await expectRefused(verifyWith(unknown, context), { code: 'evidence_invalid', message: 'no key in the JWKS matches', token: unknown, provider: env.provider, allowedValues: [env.issuer] });
      expect(env.issuerServer.count(JWKS_PATH)).toBe(2);
      const second = await signToken(env.payload(), env.evil, { kid: 'unknown-2' });
      await expectRefused(verifyWith(second, context), { code: 'evidence_invalid', message: 'no key in the JWKS matches', token: second, provider: env.provider, allowedValues: [env.issuer] });
      expect(env.issuerServer.count(JWKS_PATH)).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('reports a JWKS endpoint that is down as trust_provider_error', async () => {
    const jwksUri = await closedPortUrl('/jwks');
    await refused(await signToken(env.payload(), env.rsa), { code: 'trust_provider_error', message: 'failed: network error' }, { issuer: env.issuer, jwksUri });
    env.state.jwks = 'error';
    await refused(await signToken(env.payload(), env.rsa), { code: 'trust_provider_error', message: 'failed: HTTP 503' });
  });

  it('reports a JWKS endpoint that does not answer in time as trust_provider_error', async () => {
    env.state.jwks = 'hang';
    await refused(await signToken(env.payload(), env.rsa), { code: 'trust_provider_error', message: 'timed out' }, undefined, { timeoutMs: 200 });
  });

  it('reports a huge JWKS response as trust_provider_error without reading it all', async () => {
    env.state.jwks = 'huge';
    await refused(await signToken(env.payload(), env.rsa), { code: 'trust_provider_error', message: 'JWKS response too large' });
  });

  it('does not follow a JWKS redirect to the attacker', async () => {
    const token = await signToken(env.payload(), env.evil);
    await refused(token, { code: 'trust_provider_error', message: 'failed: HTTP 302' }, { issuer: env.issuer, jwksUri: `${env.issuer}/moved-jwks` });
    expect(env.attacker.requests).toEqual([]);
  });

  it('finds the keys through discovery, fetching only the document and its jwks_uri', async () => {
    await expect(verify(await signToken(env.payload(), env.rsa), { issuer: env.issuer, discovery: true })).resolves.toBeTruthy();
    expect(env.fetched).toEqual([`${env.issuer}/.well-known/openid-configuration`, `${env.issuer}/jwks`]);
  });

  it('refuses a discovery document that names another issuer', async () => {
    env.state.discoveryIssuer = 'https://evil-issuer.example';
    const token = await signToken(env.payload(), env.rsa);
    await refused(token, { code: 'trust_provider_error', message: '"issuer" does not match' }, { issuer: env.issuer, discovery: true });
    expect(env.issuerServer.count(JWKS_PATH)).toBe(0);
  });

  it('refuses a discovery jwks_uri on plain http off loopback, and never fetches it', async () => {
    env.state.discoveryJwksUri = 'http://keys.example.test/jwks';
    const token = await signToken(env.payload(), env.rsa);
    await refused(token, { code: 'trust_provider_error', message: '"jwks_uri" must use https' }, { issuer: env.issuer, discovery: true });
    expect(env.fetched).toEqual([`${env.issuer}/.well-known/openid-configuration`]);
  });
}
