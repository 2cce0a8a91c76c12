/**
 * Configuration of the `workload-jwt` credential provider: its schemas and the pure
 * `parseWorkloadJwtConfig` step shared by `validate` (admin writes) and `issue`, so an
 * unvalidated config fails closed with the same messages (SPIRE's buildConfig).
 */
import { Type, type Static } from 'typebox';

export const WORKLOAD_JWT_TYPE = 'workload-jwt';

/**
 * Claims the cloud's signer sets itself (`resource_set` says which tenant the token is for), plus
 * `cnf` (proof-of-possession binding is not ours to fake).
 */
export const WORKLOAD_JWT_RESERVED_CLAIMS = ['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti', 'cnf', 'resource_set'] as const;
/** Claims this provider sets from the request; a static claim must not shadow them. */
const PROVIDER_CLAIMS = ['scope', 'client_workload', 'server_workload', 'policy'] as const;

/** RFC 6749 §3.3 scope-token: printable ASCII except space, `"` and `\`. */
const SCOPE_TOKEN_PATTERN = '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$';
const MAX_CLAIMS_JSON_LENGTH = 8192;

const audienceValue = Type.String({ minLength: 1, maxLength: 2048 });

export const workloadJwtConfigSchema = Type.Object(
  {
    audience: Type.Union([audienceValue, Type.Array(audienceValue, { minItems: 1, maxItems: 10, uniqueItems: true })], {
      description: 'The `aud` claim: the server workload (or its API) that verifies the JWT.',
    }),
    lifetimeSeconds: Type.Optional(
      Type.Integer({ minimum: 60, maximum: 3600, default: 300, description: 'Lifetime of each JWT, 60 to 3600 s.' }),
    ),
    scopes: Type.Optional(
      Type.Array(Type.String({ pattern: SCOPE_TOKEN_PATTERN, maxLength: 256 }), {
        maxItems: 50,
        uniqueItems: true,
        description: 'Scope tokens, sent space-separated in the `scope` claim.',
      }),
    ),
    claims: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), {
        maxProperties: 50,
        description: 'Extra static claims; registered JWT claims and the ones this provider sets are refused.',
      }),
    ),
    subjectFormat: Type.Optional(
      Type.Enum(['workload-id', 'workload-name'], {
        default: 'workload-id',
        description: '`sub`: `resource-set:<set id>:client-workload:<workload id>` (stable) or the same with their names (readable).',
      }),
    ),
  },
  { additionalProperties: false },
);

export type WorkloadJwtConfig = Static<typeof workloadJwtConfigSchema>;

export const workloadJwtSecretsSchema = Type.Object({}, { additionalProperties: false });
export type WorkloadJwtSecrets = Static<typeof workloadJwtSecretsSchema>;

export interface ParsedWorkloadJwtConfig {
  audience: string | string[];
  lifetimeSeconds: number;
  scope: string | undefined;
  claims: Record<string, unknown>;
  subjectFormat: 'workload-id' | 'workload-name';
}

const isNonEmptyString = (value: unknown): value is string => typeof value === 'string' && value.length > 0;

/** Checks a config (schema defaults may be missing) and returns it normalised, or its problems. */
export function parseWorkloadJwtConfig(config: WorkloadJwtConfig): { config: ParsedWorkloadJwtConfig } | { issues: string[] } {
  const issues: string[] = [];
  const input: Partial<WorkloadJwtConfig> = typeof config === 'object' && config !== null ? config : {};
  const { audience, lifetimeSeconds = 300, scopes = [], claims = {}, subjectFormat = 'workload-id' } = input;

  const audienceOk = isNonEmptyString(audience) || (Array.isArray(audience) && audience.length > 0 && audience.every(isNonEmptyString));
  if (!audienceOk) issues.push('audience must be a non-empty string or a non-empty list of them');
  if (!Number.isInteger(lifetimeSeconds) || lifetimeSeconds < 60 || lifetimeSeconds > 3600) {
    issues.push('lifetimeSeconds must be a whole number from 60 to 3600');
  }
  const scopeToken = new RegExp(SCOPE_TOKEN_PATTERN);
  if (!Array.isArray(scopes) || !scopes.every((scope) => typeof scope === 'string' && scopeToken.test(scope))) {
    issues.push('scopes must be scope tokens (printable ASCII without space, quote or backslash)');
  }
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) {
    issues.push('claims must be an object');
  } else {
    const names = Object.keys(claims);
    const reserved = names.filter((name) => (WORKLOAD_JWT_RESERVED_CLAIMS as readonly string[]).includes(name));
    if (reserved.length > 0) issues.push(`claims must not set registered claims: ${reserved.join(', ')}`);
    const shadowed = names.filter((name) => (PROVIDER_CLAIMS as readonly string[]).includes(name));
    if (shadowed.length > 0) issues.push(`claims must not set claims the provider sets: ${shadowed.join(', ')}`);
    if (names.some((name) => name.length === 0 || name.length > 256)) issues.push('claim names must be 1 to 256 characters');
    if (JSON.stringify(claims).length > MAX_CLAIMS_JSON_LENGTH) {
      issues.push(`claims must not exceed ${MAX_CLAIMS_JSON_LENGTH} characters as JSON`);
    }
  }
  if (subjectFormat !== 'workload-id' && subjectFormat !== 'workload-name') {
    issues.push("subjectFormat must be 'workload-id' or 'workload-name'");
  }
  if (issues.length > 0) return { issues };

  return {
    config: {
      audience: Array.isArray(audience) ? [...audience] : (audience as string),
      lifetimeSeconds,
      scope: scopes.length > 0 ? scopes.join(' ') : undefined,
      claims: { ...claims },
      subjectFormat,
    },
  };
}
