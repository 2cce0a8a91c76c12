/**
 * Configuration of the `oidc` trust provider: any OpenID Connect issuer whose ID tokens
 * (or other JWTs) a workload can obtain with this cloud as audience.
 */
import { Type, type Static } from 'typebox';
import { buildJwtTrustConfig, jwtIssuerSchema, jwtTrustConfigProperties } from '../jwt/config.js';

export const oidcConfigSchema = Type.Object({ issuer: jwtIssuerSchema, ...jwtTrustConfigProperties }, { additionalProperties: false });

export type OidcConfig = Static<typeof oidcConfigSchema>;

/** Cross-field rules a schema cannot say: exactly one key source, URLs the cloud may fetch. */
export function validateOidcConfig(config: OidcConfig): string[] {
  const built = buildJwtTrustConfig(config);
  return built.ok ? [] : built.issues;
}
