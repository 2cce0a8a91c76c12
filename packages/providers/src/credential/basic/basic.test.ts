import { describe, expect, it } from 'vitest';
import type { CredentialContext, CredentialRequest } from '../../contracts.js';
import { CredentialError } from '../../errors.js';
import { validateConfig } from '../../validate-config.js';
import { basicCredentialProvider as provider } from './index.js';

const request: CredentialRequest = {
  clientWorkload: { id: 'c1', name: 'billing', claims: {} },
  serverWorkload: { id: 's1', name: 'legacy', host: 'legacy.test', port: 8080, scheme: 'http' },
  policyId: 'p1',
  resourceSet: { id: 'rs-1', name: 'payments' },
};
const context: CredentialContext = {
  issuer: 'https://tessera.test',
  now: () => new Date('2025-06-01T12:00:00Z'),
  fetch: () => Promise.reject(new Error('no network')),
};

describe('basic credential provider', () => {
  it('takes a username of 1 to 256 characters in config', () => {
    expect(validateConfig(provider.configSchema, { username: 'svc-billing' })).toEqual({ ok: true, value: { username: 'svc-billing' } });
    expect(validateConfig(provider.configSchema, { username: 'u'.repeat(256) }).ok).toBe(true);
    expect(validateConfig(provider.configSchema, { username: 'u'.repeat(257) }).ok).toBe(false);
    expect(validateConfig(provider.configSchema, { username: '' }).ok).toBe(false);
    expect(validateConfig(provider.configSchema, { username: 'svc', password: 'x' })).toEqual({
      ok: false,
      errors: [{ path: '/password', message: 'is not a known property' }],
    });
  });

  it("refuses a username containing ':' (RFC 7617)", () => {
    const result = validateConfig(provider.configSchema, { username: 'svc:admin' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]?.path).toBe('/username');
    expect(result.errors[0]?.message).toMatch(/pattern/);
  });

  it('takes the password as a secret of 1 to 8192 characters', () => {
    expect(validateConfig(provider.secretsSchema, { password: 'p' }).ok).toBe(true);
    expect(validateConfig(provider.secretsSchema, { password: 'p'.repeat(8193) }).ok).toBe(false);
    expect(validateConfig(provider.secretsSchema, { password: '' }).ok).toBe(false);
    // A colon is fine in the password: only the first one separates the fields.
    expect(validateConfig(provider.secretsSchema, { password: 'a:b' }).ok).toBe(true);
  });

  it('issues a basic credential that does not expire', async () => {
    await expect(provider.issue(request, { username: 'svc' }, { password: 's3cret' }, context)).resolves.toEqual({
      kind: 'basic',
      username: 'svc',
      password: 's3cret',
      expiresAt: null,
    });
  });

  it('fails closed on an unvalidated config or a missing password, without echoing values', async () => {
    const colon = provider.issue(request, { username: 'svc:admin' }, { password: 's3cret' }, context);
    await expect(colon).rejects.toBeInstanceOf(CredentialError);
    await expect(colon).rejects.toMatchObject({ code: 'invalid_config', provider: 'basic' });
    await expect(colon).rejects.not.toThrow(/s3cret/);
    const missing = provider.issue(request, { username: 'svc' }, {} as { password: string }, context);
    await expect(missing).rejects.toThrow('credential(basic): secret password is not set');
  });
});
