/**
 * A registry of providers by type. The caller fills it: `createProviderRegistry()` (see
 * catalog.ts) adds the built-ins, `register*` adds custom providers through the same path.
 */
import type { TSchema } from 'typebox';
import type { AccessCondition, CredentialProvider, EvidenceCollector, TrustProvider } from './contracts.js';
import { ConfigError } from './errors.js';
import { type ConfigValidationResult, validateConfig } from './validate-config.js';

/** Valid provider and evidence type names: lowercase, digits and dashes, 2 to 63 characters. */
export const PROVIDER_TYPE_PATTERN = /^[a-z][a-z0-9-]{1,62}$/;

type ProviderKind = 'trust provider' | 'evidence collector' | 'credential provider' | 'access condition';

interface Registrable {
  readonly specificationVersion: unknown;
  readonly type: unknown;
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value.slice(0, 80)) : typeof value;
}

function checkTypeName(kind: ProviderKind, field: string, name: unknown, provider?: string): void {
  if (typeof name !== 'string' || !PROVIDER_TYPE_PATTERN.test(name)) {
    throw new ConfigError(
      'invalid_config',
      `invalid ${kind} ${field} ${describe(name)}: must match ${PROVIDER_TYPE_PATTERN.source}`,
      provider === undefined ? {} : { provider },
    );
  }
}

/** Config schemas must refuse unknown properties: a typo must not be silently ignored. */
function checkClosedSchema(kind: ProviderKind, type: string, field: string, schema: unknown): void {
  const keywords = typeof schema === 'object' && schema !== null ? (schema as Record<string, unknown>) : {};
  const closed = keywords.additionalProperties === false || keywords.unevaluatedProperties === false;
  if (!closed) {
    throw new ConfigError('invalid_config', `${kind} ${field} must be an object schema with additionalProperties: false`, {
      provider: type,
    });
  }
}

function checkFunctions(kind: ProviderKind, type: string, provider: object, names: string[]): void {
  for (const name of [...names, 'validate']) {
    const value = (provider as Record<string, unknown>)[name];
    const optional = name === 'validate';
    if (typeof value !== 'function' && !(optional && value === undefined)) {
      throw new ConfigError('invalid_config', `${kind} ${name} must be a function`, { provider: type });
    }
  }
}

/** Common checks, then the kind's own checks, then the duplicate check. */
function add<P extends Registrable>(map: Map<string, P>, kind: ProviderKind, provider: P, check: (type: string) => void): void {
  if (typeof provider !== 'object' || provider === null) {
    throw new ConfigError('invalid_config', `${kind} must be an object`);
  }
  checkTypeName(kind, 'type', provider.type);
  const type = provider.type as string;
  if (provider.specificationVersion !== 'v1') {
    throw new ConfigError('invalid_config', `${kind} specificationVersion must be 'v1'`, { provider: type });
  }
  check(type);
  if (map.has(type)) {
    throw new ConfigError('duplicate_provider_type', `${kind} type is already registered`, { provider: type });
  }
  map.set(type, provider);
}

function need<P>(map: Map<string, P>, kind: ProviderKind, type: string): P {
  const provider = map.get(type);
  if (provider === undefined) {
    throw new ConfigError('unknown_provider_type', `unknown ${kind} type '${type}'`);
  }
  return provider;
}

export class ProviderRegistry {
  readonly #trustProviders = new Map<string, TrustProvider>();
  readonly #evidenceCollectors = new Map<string, EvidenceCollector>();
  readonly #credentialProviders = new Map<string, CredentialProvider>();
  readonly #accessConditions = new Map<string, AccessCondition>();

  registerTrustProvider(provider: TrustProvider): this {
    add(this.#trustProviders, 'trust provider', provider, (type) => {
      checkTypeName('trust provider', 'evidenceType', provider.evidenceType, type);
      checkClosedSchema('trust provider', type, 'configSchema', provider.configSchema);
      checkFunctions('trust provider', type, provider, ['acceptedIssuers', 'verify']);
    });
    return this;
  }

  registerEvidenceCollector(collector: EvidenceCollector): this {
    add(this.#evidenceCollectors, 'evidence collector', collector, (type) => {
      checkTypeName('evidence collector', 'evidenceType', collector.evidenceType, type);
      checkFunctions('evidence collector', type, collector, ['detect', 'collect']);
    });
    return this;
  }

  registerCredentialProvider(provider: CredentialProvider): this {
    add(this.#credentialProviders, 'credential provider', provider, (type) => {
      checkClosedSchema('credential provider', type, 'configSchema', provider.configSchema);
      checkClosedSchema('credential provider', type, 'secretsSchema', provider.secretsSchema);
      checkFunctions('credential provider', type, provider, ['issue']);
    });
    return this;
  }

  registerAccessCondition(condition: AccessCondition): this {
    add(this.#accessConditions, 'access condition', condition, (type) => {
      checkClosedSchema('access condition', type, 'configSchema', condition.configSchema);
      checkFunctions('access condition', type, condition, ['evaluate']);
    });
    return this;
  }

  getTrustProvider(type: string): TrustProvider | undefined {
    return this.#trustProviders.get(type);
  }

  getEvidenceCollector(type: string): EvidenceCollector | undefined {
    return this.#evidenceCollectors.get(type);
  }

  getCredentialProvider(type: string): CredentialProvider | undefined {
    return this.#credentialProviders.get(type);
  }

  getAccessCondition(type: string): AccessCondition | undefined {
    return this.#accessConditions.get(type);
  }

  requireTrustProvider(type: string): TrustProvider {
    return need(this.#trustProviders, 'trust provider', type);
  }

  requireEvidenceCollector(type: string): EvidenceCollector {
    return need(this.#evidenceCollectors, 'evidence collector', type);
  }

  requireCredentialProvider(type: string): CredentialProvider {
    return need(this.#credentialProviders, 'credential provider', type);
  }

  requireAccessCondition(type: string): AccessCondition {
    return need(this.#accessConditions, 'access condition', type);
  }

  /** Registered trust provider types, in registration order; optionally only those verifying `evidenceType`. */
  listTrustProviders(filter: { evidenceType?: string } = {}): string[] {
    return [...this.#trustProviders.values()]
      .filter((p) => filter.evidenceType === undefined || p.evidenceType === filter.evidenceType)
      .map((p) => p.type);
  }

  listEvidenceCollectors(): string[] {
    return [...this.#evidenceCollectors.keys()];
  }

  listCredentialProviders(): string[] {
    return [...this.#credentialProviders.keys()];
  }

  listAccessConditions(): string[] {
    return [...this.#accessConditions.keys()];
  }

  /** Same as the `validateConfig` function, for callers holding only the registry. */
  validateConfig<T = unknown>(schema: TSchema, value: unknown): ConfigValidationResult<T> {
    return validateConfig<T>(schema, value);
  }
}
