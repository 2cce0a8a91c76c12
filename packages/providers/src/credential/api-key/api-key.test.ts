import { describe, expect, it } from 'vitest';
import type { CredentialContext, CredentialRequest } from '../../contracts.js';
import { CredentialError } from '../../errors.js';
import { validateConfig } from '../../validate-config.js';
import { apiKeyCredentialProvider as provider } from './index.js';

const request: CredentialRequest = {
  clientWorkload: { id: 'c1', name: 'billing', claims: {} },
  serverWorkload: { id: 's1', name: 'saas', host: 'api.saas.test', port: 443, scheme: 'https' },
  policyId: 'p1',
  resourceSet: { id: 'rs-1', name: 'payments' },
};
const context: CredentialContext = {
  issuer: 'https://tessera.test',
  now: () => new Date('2025-06-01T12:00:00Z'),
  fetch: () => Promise.reject(new Error('no network')),
};

describe('api-key credential provider', () => {
  it('has no config fields', () => {
    expect(validateConfig(provider.configSchema, {})).toEqual({ ok: true, value: {} });
    expect(validateConfig(provider.configSchema, { header: 'x-api-key' })).toEqual({
      ok: false,
      errors: [{ path: '/header', message: 'is not a known property' }],
    });
  });

  it('takes the key as a secret of 1 to 8192 characters', () => {
    expect(validateConfig(provider.secretsSchema, { apiKey: 'k' }).ok).toBe(true);
    expect(validateConfig(provider.secretsSchema, { apiKey: 'k'.repeat(8192) }).ok).toBe(true);
    expect(validateConfig(provider.secretsSchema, { apiKey: '' })).toEqual({
      ok: false,
      errors: [{ path: '/apiKey', message: 'must not have fewer than 1 characters' }],
    });
    expect(validateConfig(provider.secretsSchema, { apiKey: 'k'.repeat(8193) }).ok).toBe(false);
    expect(validateConfig(provider.secretsSchema, {})).toEqual({ ok: false, errors: [{ path: '/apiKey', message: 'is required' }] });
  });

  it('issues the key as a token that does not expire', async () => {
    await expect(provider.issue(request, {}, { apiKey: 'sk_live_123' }, context)).resolves.toEqual({
      kind: 'token',
      token: 'sk_live_123',
      expiresAt: null,
    });
  });

  it('fails closed, naming the field, when the secret is missing', async () => {
    const missing = provider.issue(request, {}, {} as { apiKey: string }, context);
    await expect(missing).rejects.toBeInstanceOf(CredentialError);
    await expect(missing).rejects.toMatchObject({
      code: 'invalid_config',
      provider: 'api-key',
      message: 'credential(api-key): secret apiKey is not set',
    });
  });
});
