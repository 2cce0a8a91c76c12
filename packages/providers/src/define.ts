/**
 * Identity helpers for writing providers. They return their argument unchanged; their
 * value is typing: the config (and secrets) parameters are inferred from the schemas,
 *
 *   defineCredentialProvider({
 *     specificationVersion: 'v1',
 *     type: 'my-token',
 *     configSchema: Type.Object({ audience: Type.String() }, { additionalProperties: false }),
 *     secretsSchema: Type.Object({ key: Type.String() }, { additionalProperties: false }),
 *     async issue(request, config, secrets) { ... config.audience is a string ... },
 *   });
 *
 * and the result is accepted by `ProviderRegistry` like a built-in.
 */
import type { Static, TSchema } from 'typebox';
import type { AccessCondition, CredentialProvider, TrustProvider } from './contracts.js';

export { defineEvidenceCollector } from './collector-contract.js';

export function defineTrustProvider<const CS extends TSchema>(
  provider: TrustProvider<Static<CS>> & { readonly configSchema: CS },
): TrustProvider<Static<CS>> & { readonly configSchema: CS } {
  return provider;
}

export function defineCredentialProvider<const CS extends TSchema, const SS extends TSchema>(
  provider: CredentialProvider<Static<CS>, Static<SS>> & { readonly configSchema: CS; readonly secretsSchema: SS },
): CredentialProvider<Static<CS>, Static<SS>> & { readonly configSchema: CS; readonly secretsSchema: SS } {
  return provider;
}

export function defineAccessCondition<const CS extends TSchema>(
  provider: AccessCondition<Static<CS>> & { readonly configSchema: CS },
): AccessCondition<Static<CS>> & { readonly configSchema: CS } {
  return provider;
}
