import type { ProviderRegistry } from '@tessera/providers';
import { DestinationGuard } from '../egress/destination-guard.js';
import { logStreamTypes } from '../audit/log-stream-types.js';
import type { TypedSchemas } from './kinds.js';
import type { TypedSchemaLookup } from './validate.js';

/**
 * Admin writes validate a provider's `config`/`secrets` with the schemas its registry entry holds;
 * log streams with their own types, whose destinations `streamGuard` checks.
 */
export function typedSchemaLookup(registry: ProviderRegistry, streamGuard = new DestinationGuard()): TypedSchemaLookup {
  const streamTypes = logStreamTypes(streamGuard);
  return {
    find(category, type): TypedSchemas | undefined {
      switch (category) {
        case 'trust-provider':
          return fromProvider(registry.getTrustProvider(type));
        case 'credential-provider':
          return fromProvider(registry.getCredentialProvider(type));
        case 'access-condition':
          return fromProvider(registry.getAccessCondition(type));
        case 'log-stream':
          return Object.hasOwn(streamTypes, type) ? streamTypes[type] : undefined;
      }
    },
    check(schema, value) {
      const result = registry.validateConfig(schema, value);
      return result.ok ? [] : result.errors;
    },
  };
}

function fromProvider(
  provider: { configSchema: TypedSchemas['configSchema']; secretsSchema?: TypedSchemas['secretsSchema']; validate?(config: never): string[] } | undefined,
): TypedSchemas | undefined {
  if (!provider) return undefined;
  return {
    configSchema: provider.configSchema,
    ...(provider.secretsSchema ? { secretsSchema: provider.secretsSchema } : {}),
    ...(provider.validate ? { validate: (config: unknown) => provider.validate!(config as never) } : {}),
  };
}
