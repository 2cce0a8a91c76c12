/**
 * Configuration of the `gcp-identity-token` trust provider: Google's issuer and public keys
 * (both defaulted), the usual JWT time settings, and optional allow-lists of projects and
 * service accounts. Google signs these tokens with RS256 only, so the algorithm is pinned
 * rather than configurable, and the keys always come from a JWKS URL (Google rotates them
 * often: an inline copy would go stale within days).
 */
import { Type, type Static } from 'typebox';
import { buildJwtTrustConfig, type JwtTrustConfig, jwtTrustConfigProperties } from '../jwt/config.js';

export const GOOGLE_ISSUER = 'https://accounts.google.com';
/** The same issuer without its scheme, which some Google tokens carry; accepted with the default issuer only. */
export const GOOGLE_ISSUER_BARE = 'accounts.google.com';
export const GOOGLE_JWKS_URI = 'https://www.googleapis.com/oauth2/v3/certs';
export const GCP_IDENTITY_TOKEN_ALGORITHMS = ['RS256'] as const;

/** Project ids: 6–30 characters, optionally with a legacy `domain:` prefix (`example.com:my-project`). */
const PROJECT_ID_PATTERN = '^([a-z0-9.-]{1,63}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$';
const EMAIL_PATTERN = '^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,189}$';

export const gcpIdentityTokenConfigSchema = Type.Object(
  {
    issuer: Type.Optional(
      Type.String({ minLength: 1, maxLength: 2048, default: GOOGLE_ISSUER, description: 'Expected "iss"; the default also accepts "accounts.google.com".' }),
    ),
    jwksUri: Type.Optional(
      Type.String({ minLength: 1, maxLength: 2048, default: GOOGLE_JWKS_URI, description: "Google's public keys: https, or http on a loopback host only." }),
    ),
    audience: jwtTrustConfigProperties.audience,
    clockToleranceSeconds: jwtTrustConfigProperties.clockToleranceSeconds,
    maxTokenAgeSeconds: jwtTrustConfigProperties.maxTokenAgeSeconds,
    projectIds: Type.Optional(
      Type.Array(Type.String({ pattern: PROJECT_ID_PATTERN }), {
        minItems: 1,
        maxItems: 100,
        uniqueItems: true,
        description: 'Accept only Compute Engine tokens of these projects (google.compute_engine.project_id).',
      }),
    ),
    serviceAccountEmails: Type.Optional(
      Type.Array(Type.String({ pattern: EMAIL_PATTERN, maxLength: 254 }), {
        minItems: 1,
        maxItems: 100,
        uniqueItems: true,
        description: 'Accept only tokens of these service accounts ("email", compared case-insensitively).',
      }),
    ),
  },
  { additionalProperties: false },
);

export type GcpIdentityTokenConfig = Static<typeof gcpIdentityTokenConfigSchema>;

/** The issuers a token may carry under this config: the bare variant only with Google's default issuer. */
export function acceptedIssuers(config: GcpIdentityTokenConfig): string[] {
  const issuer = config.issuer ?? GOOGLE_ISSUER;
  return issuer === GOOGLE_ISSUER ? [GOOGLE_ISSUER, GOOGLE_ISSUER_BARE] : [issuer];
}

/** The JWT part with Google's defaults, RS256 pinned; `issuer` is one of `acceptedIssuers`. */
export function gcpJwtConfig(config: GcpIdentityTokenConfig, issuer = config.issuer ?? GOOGLE_ISSUER): JwtTrustConfig {
  return {
    issuer,
    jwksUri: config.jwksUri ?? GOOGLE_JWKS_URI,
    audience: config.audience,
    algorithms: GCP_IDENTITY_TOKEN_ALGORITHMS,
    clockToleranceSeconds: config.clockToleranceSeconds,
    maxTokenAgeSeconds: config.maxTokenAgeSeconds,
  };
}

/** Cross-field and URL rules a schema cannot say (the jwksUri the cloud may fetch ...). */
export function validateGcpIdentityTokenConfig(config: GcpIdentityTokenConfig): string[] {
  const built = buildJwtTrustConfig(gcpJwtConfig(config));
  return built.ok ? [] : built.issues;
}
