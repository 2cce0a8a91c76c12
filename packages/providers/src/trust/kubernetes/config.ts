/**
 * Configuration of the `kubernetes-service-account` trust provider: the cluster's
 * service-account issuer (`--service-account-issuer`) and where its keys are.
 */
import { Type, type Static } from 'typebox';
import { buildJwtTrustConfig, jwtTrustConfigProperties } from '../jwt/config.js';

export const kubernetesConfigSchema = Type.Object(
  {
    issuer: Type.String({ minLength: 1, maxLength: 2048, description: 'The cluster\'s service-account issuer, matched exactly against "iss".' }),
    ...jwtTrustConfigProperties,
  },
  { additionalProperties: false },
);

export type KubernetesConfig = Static<typeof kubernetesConfigSchema>;

/** Exactly one key source (jwksUri, inline jwks or discovery), https or loopback URLs. */
export function validateKubernetesConfig(config: KubernetesConfig): string[] {
  const built = buildJwtTrustConfig(config);
  return built.ok ? [] : built.issues;
}
