import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { createProviderRegistry } from './catalog.js';
import type { AccessCondition, CredentialContext, CredentialProvider, CredentialRequest, TrustProvider } from './contracts.js';
import { defineAccessCondition, defineCredentialProvider, defineEvidenceCollector, defineTrustProvider } from './define.js';
import { ConfigError, CredentialError, TesseraError } from './errors.js';
import { ProviderRegistry } from './registry.js';
import { validateProviderConfig } from './validate-config.js';

const request: CredentialRequest = {
  clientWorkload: { id: 'c1', name: 'billing', claims: { 'kubernetes.namespace': 'billing' } },
  serverWorkload: { id: 's1', name: 'payments-api', host: 'payments.example.test', port: 443, scheme: 'https' },
  policyId: 'p1',
  resourceSet: { id: 'rs-1', name: 'payments' },
};
const context: CredentialContext = {
  issuer: 'https://tessera.example.test',
  now: () => new Date('2025-01-01T00:00:00Z'),
  fetch: () => Promise.reject(new Error('no network in this test')),
};

/** A custom provider written the way a user would, with the public helper. */
const headerTokenProvider = defineCredentialProvider({
  specificationVersion: 'v1',
  type: 'static-header-token',
  configSchema: Type.Object({ prefix: Type.String({ maxLength: 16 }) }, { additionalProperties: false }),
  secretsSchema: Type.Object({ token: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
  validate(config) {
    return config.prefix.includes(' ') ? ['prefix must not contain spaces'] : [];
  },
  async issue(_request, config, secrets, ctx) {
    // `config.prefix` and `secrets.token` are typed from the schemas.
    if (secrets.token === 'revoked') throw new CredentialError('credential_provider_error', 'token revoked', { provider: 'static-header-token' });
    return { kind: 'token', token: `${config.prefix.toUpperCase()}${secrets.token}`, expiresAt: new Date(ctx.now().getTime() + 60_000) };
  },
});

const fakeTrust = defineTrustProvider({
  specificationVersion: 'v1',
  type: 'fake-jwt',
  evidenceType: 'jwt',
  configSchema: Type.Object({ issuer: Type.String() }, { additionalProperties: false }),
  acceptedIssuers: (config) => [config.issuer],
  async verify(_evidence, config) {
    return { claims: { 'fake.issuer': config.issuer } };
  },
});

function codeOf(action: () => unknown): string | undefined {
  try {
    action();
  } catch (error) {
    if (error instanceof TesseraError) return error.code;
    throw error;
  }
  return undefined;
}

describe('createProviderRegistry', () => {
  it('registers the built-ins, explicitly listed', () => {
    const registry = createProviderRegistry();
    expect(registry.listCredentialProviders()).toEqual(['api-key', 'basic', 'workload-jwt', 'oauth2-client-credentials', 'aws-sts', 'gcp-workload-identity-federation', 'azure-workload-identity-federation']);
    expect(registry.listAccessConditions()).toEqual(['time-window', 'source-ip']);
    expect(registry.getAccessCondition('source-ip')?.type).toBe('source-ip');
  });

  it('can start empty', () => {
    const registry = createProviderRegistry({ builtins: false });
    expect(registry.listCredentialProviders()).toEqual([]);
    expect(registry.listAccessConditions()).toEqual([]);
    expect(registry.listTrustProviders()).toEqual([]);
    expect(registry.listEvidenceCollectors()).toEqual([]);
  });

  it('gives each registry its own maps', () => {
    const one = createProviderRegistry();
    one.registerCredentialProvider(headerTokenProvider);
    expect(createProviderRegistry().getCredentialProvider('static-header-token')).toBeUndefined();
  });
});

describe('ProviderRegistry', () => {
  it('refuses a duplicate type', () => {
    const registry = createProviderRegistry();
    const copy = { ...registry.requireCredentialProvider('api-key') };
    expect(codeOf(() => registry.registerCredentialProvider(copy))).toBe('duplicate_provider_type');
    expect(() => registry.registerCredentialProvider(copy)).toThrow('config(api-key): credential provider type is already registered');
    // Same type name in another kind is fine.
    const condition = defineAccessCondition({
      specificationVersion: 'v1',
      type: 'api-key',
      configSchema: Type.Object({}, { additionalProperties: false }),
      async evaluate() {
        return { passed: true };
      },
    });
    expect(codeOf(() => registry.registerAccessCondition(condition))).toBeUndefined();
  });

  it.each(['', 'a', 'Api-Key', 'api_key', '1password', 'api key', '-x', `a${'b'.repeat(63)}`])('refuses the type name %j', (type) => {
    const registry = new ProviderRegistry();
    const error = (() => {
      try {
        registry.registerCredentialProvider({ ...headerTokenProvider, type });
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('invalid_config');
  });

  it('accepts type names of 2 to 63 characters', () => {
    const registry = new ProviderRegistry();
    registry.registerCredentialProvider({ ...headerTokenProvider, type: 'ab' });
    registry.registerCredentialProvider({ ...headerTokenProvider, type: `a${'b'.repeat(62)}` });
    expect(registry.listCredentialProviders()).toHaveLength(2);
  });

  it('refuses another specification version, a missing function, an open schema, a bad evidence type', () => {
    const registry = new ProviderRegistry();
    const v2 = { ...headerTokenProvider, specificationVersion: 'v2' } as unknown as CredentialProvider;
    expect(() => registry.registerCredentialProvider(v2)).toThrow("specificationVersion must be 'v1'");
    const noIssue = { ...headerTokenProvider, issue: undefined } as unknown as CredentialProvider;
    expect(() => registry.registerCredentialProvider(noIssue)).toThrow('issue must be a function');
    const open = { ...headerTokenProvider, secretsSchema: Type.Object({ token: Type.String() }) };
    expect(() => registry.registerCredentialProvider(open)).toThrow('secretsSchema must be an object schema with additionalProperties: false');
    // A trust provider must say which issuers it accepts (or null: its evidence names none).
    const noIssuers = { ...fakeTrust, acceptedIssuers: undefined } as unknown as TrustProvider;
    expect(() => registry.registerTrustProvider(noIssuers)).toThrow('acceptedIssuers must be a function');
    const badEvidence: TrustProvider = { ...fakeTrust, evidenceType: 'JWT!' };
    expect(codeOf(() => registry.registerTrustProvider(badEvidence))).toBe('invalid_config');
    expect(codeOf(() => registry.registerAccessCondition(null as unknown as AccessCondition))).toBe('invalid_config');
    expect(registry.listCredentialProviders()).toEqual([]);
  });

  it('returns undefined for an unknown type, and require* throws unknown_provider_type', () => {
    const registry = createProviderRegistry();
    expect(registry.getTrustProvider('nope')).toBeUndefined();
    expect(registry.getEvidenceCollector('nope')).toBeUndefined();
    expect(registry.getCredentialProvider('nope')).toBeUndefined();
    expect(registry.getAccessCondition('nope')).toBeUndefined();
    for (const lookup of [
      () => registry.requireTrustProvider('nope'),
      () => registry.requireEvidenceCollector('nope'),
      () => registry.requireCredentialProvider('nope'),
      () => registry.requireAccessCondition('nope'),
    ]) {
      expect(codeOf(lookup)).toBe('unknown_provider_type');
    }
    expect(() => registry.requireCredentialProvider('nope')).toThrow("unknown credential provider type 'nope'");
  });

  it('lists trust providers by evidence type, and collectors', () => {
    const registry = new ProviderRegistry()
      .registerTrustProvider(fakeTrust)
      .registerTrustProvider({ ...fakeTrust, type: 'fake-aws', evidenceType: 'aws-sts' })
      .registerEvidenceCollector(
        defineEvidenceCollector({
          specificationVersion: 'v1',
          type: 'fake-jwt',
          evidenceType: 'jwt',
          async detect() {
            return true;
          },
          async collect({ audience }) {
            return { type: 'jwt', token: `for ${audience}` };
          },
        }),
      );
    expect(registry.listTrustProviders()).toEqual(['fake-jwt', 'fake-aws']);
    expect(registry.listTrustProviders({ evidenceType: 'jwt' })).toEqual(['fake-jwt']);
    expect(registry.listEvidenceCollectors()).toEqual(['fake-jwt']);
  });

  it('validates config through the registry with paths', () => {
    const registry = createProviderRegistry();
    const basic = registry.requireCredentialProvider('basic');
    expect(registry.validateConfig(basic.configSchema, { username: 'svc', extra: true })).toEqual({
      ok: false,
      errors: [{ path: '/extra', message: 'is not a known property' }],
    });
    expect(registry.validateConfig(basic.configSchema, {})).toEqual({
      ok: false,
      errors: [{ path: '/username', message: 'is required' }],
    });
    expect(registry.validateConfig(basic.secretsSchema, { password: 7 })).toEqual({
      ok: false,
      errors: [{ path: '/password', message: 'must be string' }],
    });
  });
});

describe('a custom provider defined with defineCredentialProvider', () => {
  it('registers and works like a built-in', async () => {
    const registry = createProviderRegistry().registerCredentialProvider(headerTokenProvider);
    const provider = registry.requireCredentialProvider('static-header-token');
    expect(registry.listCredentialProviders()).toEqual(['api-key', 'basic', 'workload-jwt', 'oauth2-client-credentials', 'aws-sts', 'gcp-workload-identity-federation', 'azure-workload-identity-federation', 'static-header-token']);

    const config = validateProviderConfig(provider, { prefix: 'tk_' });
    const secrets = registry.validateConfig(provider.secretsSchema, { token: 'abc' });
    if (!config.ok || !secrets.ok) throw new Error('expected valid config');
    await expect(provider.issue(request, config.value, secrets.value, context)).resolves.toEqual({
      kind: 'token',
      token: 'TK_abc',
      expiresAt: new Date('2025-01-01T00:01:00Z'),
    });

    expect(validateProviderConfig(provider, { prefix: 'a b' })).toEqual({
      ok: false,
      errors: [{ path: '', message: 'prefix must not contain spaces' }],
    });
    const failure = provider.issue(request, { prefix: '' }, { token: 'revoked' }, context);
    await expect(failure).rejects.toBeInstanceOf(CredentialError);
    await expect(failure).rejects.toThrow('credential(static-header-token): token revoked');
  });
});
