import { randomBytes } from 'node:crypto';
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CredentialContext, CredentialRequest, SignJwtOptions } from '../../contracts.js';
import { CredentialError } from '../../errors.js';
import { validateProviderConfig } from '../../validate-config.js';
import { workloadJwtCredentialProvider as provider, type WorkloadJwtConfig } from './index.js';

const ISSUER = 'https://tessera.test';
const NOW = new Date('2025-06-01T12:00:00Z');
const request: CredentialRequest = {
  clientWorkload: { id: '6f1c0e5e-1111-4c1e-9e55-000000000001', name: 'billing', claims: {} },
  serverWorkload: { id: 's1', name: 'ledger-api', host: 'ledger.internal', port: 443, scheme: 'https' },
  policyId: 'p-42',
  resourceSet: { id: 'rs-1', name: 'payments' },
};

let jwks: ReturnType<typeof createLocalJWKSet>;
let context: CredentialContext;

/** Mirrors the cloud's KeyRing.sign: refuses reserved claims, sets iss/sub/aud/iat/exp/jti, ES256 with a kid. */
async function keyRingLikeSigner(privateKey: CryptoKey, kid: string) {
  return async (payload: Record<string, unknown>, options: SignJwtOptions): Promise<string> => {
    const reserved = ['iss', 'sub', 'aud', 'iat', 'nbf', 'exp', 'jti'].filter((claim) => claim in payload);
    if (reserved.length > 0) throw new TypeError(`set ${reserved.join(', ')} through the sign options`);
    const issuedAt = Math.floor(NOW.getTime() / 1000);
    const claims: JWTPayload = {
      ...payload,
      iss: ISSUER,
      sub: options.subject,
      aud: options.audience,
      iat: issuedAt,
      exp: issuedAt + options.lifetimeSeconds,
      jti: randomBytes(16).toString('base64url'),
    };
    return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid }).sign(privateKey);
  };
}

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  jwks = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] });
  context = {
    issuer: ISSUER,
    now: () => NOW,
    fetch: () => Promise.reject(new Error('no network')),
    signJwt: await keyRingLikeSigner(privateKey, 'k1'),
  };
});

const verify = (token: string, audience: string) =>
  jwtVerify(token, jwks, { issuer: ISSUER, audience, algorithms: ['ES256'], currentDate: NOW });

const validate = (config: unknown) => validateProviderConfig<WorkloadJwtConfig>(provider, config);

describe('workload-jwt credential provider', () => {
  it('issues a JWT signed by the cloud that verifies against its JWKS', async () => {
    const config = validate({ audience: 'https://ledger.internal', scopes: ['ledger:read', 'ledger:write'], claims: { env: 'prod' } });
    if (!config.ok) throw new Error('config refused');
    const credential = await provider.issue(request, config.value, {}, context);
    expect(credential).toMatchObject({ kind: 'token', expiresAt: new Date(NOW.getTime() + 300_000) });
    if (credential.kind !== 'token') throw new Error('not a token');

    const { payload, protectedHeader } = await verify(credential.token, 'https://ledger.internal');
    expect(protectedHeader).toMatchObject({ alg: 'ES256', kid: 'k1' });
    expect(payload).toMatchObject({
      iss: ISSUER,
      sub: `resource-set:rs-1:client-workload:${request.clientWorkload.id}`,
      aud: 'https://ledger.internal',
      exp: Math.floor(NOW.getTime() / 1000) + 300,
      scope: 'ledger:read ledger:write',
      env: 'prod',
      client_workload: 'billing',
      server_workload: 'ledger-api',
      policy: 'p-42',
    });
    expect(typeof payload.jti).toBe('string');
  });

  it('supports several audiences, a custom lifetime and the workload name as subject', async () => {
    const config = validate({ audience: ['https://a.test', 'https://b.test'], lifetimeSeconds: 60, subjectFormat: 'workload-name' });
    if (!config.ok) throw new Error('config refused');
    const credential = await provider.issue(request, config.value, {}, context);
    if (credential.kind !== 'token') throw new Error('not a token');
    expect(credential.expiresAt).toEqual(new Date(NOW.getTime() + 60_000));
    const { payload } = await verify(credential.token, 'https://b.test');
    expect(payload).toMatchObject({ sub: 'resource-set:payments:client-workload:billing', aud: ['https://a.test', 'https://b.test'] });
    expect(payload).not.toHaveProperty('scope');
    await expect(verify(credential.token, 'https://c.test')).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' });
  });

  it('fills defaults and needs no secrets', () => {
    expect(validate({ audience: 'x' })).toEqual({
      ok: true,
      value: { audience: 'x', lifetimeSeconds: 300, subjectFormat: 'workload-id' },
    });
    expect(validateProviderConfig({ configSchema: provider.secretsSchema }, {})).toEqual({ ok: true, value: {} });
    expect(validateProviderConfig({ configSchema: provider.secretsSchema }, { key: 'k' }).ok).toBe(false);
  });

  it('keeps the lifetime within 60..3600 seconds', () => {
    expect(validate({ audience: 'x', lifetimeSeconds: 60 }).ok).toBe(true);
    expect(validate({ audience: 'x', lifetimeSeconds: 3600 }).ok).toBe(true);
    expect(validate({ audience: 'x', lifetimeSeconds: 59 })).toEqual({
      ok: false,
      errors: [{ path: '/lifetimeSeconds', message: 'must be >= 60' }],
    });
    expect(validate({ audience: 'x', lifetimeSeconds: 3601 }).ok).toBe(false);
    expect(validate({ audience: 'x', lifetimeSeconds: 90.5 }).ok).toBe(false);
  });

  it('refuses reserved and provider-set claim names, bad scopes and audiences', () => {
    expect(validate({ audience: 'x', claims: { sub: 'admin', cnf: {}, team: 'a' } })).toEqual({
      ok: false,
      errors: [{ path: '', message: 'claims must not set registered claims: sub, cnf' }],
    });
    // The tenant a token is for is the control plane's to say, never a static claim's.
    expect(validate({ audience: 'x', claims: { resource_set: { id: 'rs-other', name: 'other' } } })).toEqual({
      ok: false,
      errors: [{ path: '', message: 'claims must not set registered claims: resource_set' }],
    });
    expect(validate({ audience: 'x', claims: { policy: 'p' } })).toEqual({
      ok: false,
      errors: [{ path: '', message: 'claims must not set claims the provider sets: policy' }],
    });
    expect(validate({ audience: 'x', scopes: ['has space'] }).ok).toBe(false);
    expect(validate({ audience: [] }).ok).toBe(false);
    expect(validate({ audience: 'x', subjectFormat: 'email' }).ok).toBe(false);
    expect(validate({ audience: 'x', extra: true }).ok).toBe(false);
  });

  it('fails closed on an unvalidated config with a reserved claim', async () => {
    const config = { audience: 'x', claims: { iss: 'https://evil.test' } } as WorkloadJwtConfig;
    await expect(provider.issue(request, config, {}, context)).rejects.toMatchObject({
      code: 'invalid_config',
      message: 'credential(workload-jwt): claims must not set registered claims: iss',
    });
  });

  it('fails closed when the cloud offers no signer', async () => {
    const { signJwt: _unused, ...withoutSigner } = context;
    const issuing = provider.issue(request, { audience: 'x' }, {}, withoutSigner);
    await expect(issuing).rejects.toBeInstanceOf(CredentialError);
    await expect(issuing).rejects.toMatchObject({ code: 'credential_provider_error', provider: 'workload-jwt' });
  });

  it('wraps a signer failure', async () => {
    const failing = { ...context, signJwt: () => Promise.reject(new RangeError('lifetime too long')) };
    await expect(provider.issue(request, { audience: 'x', lifetimeSeconds: 600 }, {}, failing)).rejects.toMatchObject({
      code: 'credential_provider_error',
      message: 'credential(workload-jwt): signing the workload JWT failed',
    });
  });
});
