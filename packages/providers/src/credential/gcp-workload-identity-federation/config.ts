/**
 * Configuration of the `gcp-workload-identity-federation` credential provider: which workload
 * identity pool provider Google checks the cloud's JWT against, optionally which service
 * account to impersonate, and where Google's endpoints are. There are no secrets: the cloud
 * proves itself with a JWT it signs (`ctx.signJwt`), which Google verifies against the cloud's
 * published keys.
 *
 * `parseGcpWifConfig` is shared by `validate` (admin writes) and `issue`, so a config that did
 * not pass the schema fails closed with the same messages.
 */
import { Type, type Static } from 'typebox';
import { destination } from '../../destination.js';
import { parseEndpointUrl } from '../../http/endpoint-url.js';

export const GCP_WIF_TYPE = 'gcp-workload-identity-federation';
export const GOOGLE_STS_TOKEN_URL = 'https://sts.googleapis.com/v1/token';
export const GOOGLE_IAM_CREDENTIALS_ENDPOINT = 'https://iamcredentials.googleapis.com';
export const GOOGLE_CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
/** Lifetime of the cloud's JWT: it only has to survive one token exchange. */
export const GCP_WIF_SUBJECT_TOKEN_LIFETIME_SECONDS = 300;

/** `//iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>`. */
const PROVIDER_AUDIENCE_PATTERN =
  '^//iam\\.googleapis\\.com/projects/[0-9]{1,20}/locations/global/workloadIdentityPools/[a-z0-9-]{4,32}/providers/[a-z0-9-]{4,32}$';
const EMAIL_PATTERN = '^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,189}$';
/** An OAuth scope token (RFC 6749 §3.3): printable ASCII without space, `"` or `\`. */
const SCOPE_PATTERN = '^[\\x21\\x23-\\x5B\\x5D-\\x7E]{1,256}$';
/** Google's endpoints receive the JWT the cloud signs: each is a destination. */
const url = (description: string, defaultValue: string) =>
  Type.String({ minLength: 1, maxLength: 2048, default: defaultValue, description, ...destination });

export const gcpWifConfigSchema = Type.Object(
  {
    audience: Type.String({
      pattern: PROVIDER_AUDIENCE_PATTERN,
      description: 'The workload identity pool provider: //iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>.',
    }),
    jwtAudience: Type.Optional(
      Type.String({ minLength: 1, maxLength: 2048, description: '"aud" of the JWT the cloud signs, one of the provider\'s allowed audiences; default: audience.' }),
    ),
    serviceAccountEmail: Type.Optional(
      Type.String({ pattern: EMAIL_PATTERN, maxLength: 254, description: 'Impersonate this service account; without it, the federated token itself is issued.' }),
    ),
    scopes: Type.Optional(
      Type.Array(Type.String({ pattern: SCOPE_PATTERN }), {
        minItems: 1,
        maxItems: 20,
        uniqueItems: true,
        default: [GOOGLE_CLOUD_PLATFORM_SCOPE],
        description: 'OAuth scopes of the access token.',
      }),
    ),
    tokenLifetimeSeconds: Type.Optional(
      Type.Integer({ minimum: 300, maximum: 43_200, description: 'Lifetime of an impersonated token (default 3600; over 3600 needs an organization policy).' }),
    ),
    tokenUrl: Type.Optional(url('Google STS token endpoint.', GOOGLE_STS_TOKEN_URL)),
    iamCredentialsEndpoint: Type.Optional(url('IAM Service Account Credentials API base URL (impersonation only).', GOOGLE_IAM_CREDENTIALS_ENDPOINT)),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 60_000, default: 5000, description: 'Timeout of each request to Google.' })),
  },
  { additionalProperties: false },
);

export type GcpWifConfig = Static<typeof gcpWifConfigSchema>;

export const gcpWifSecretsSchema = Type.Object({}, { additionalProperties: false });
export type GcpWifSecrets = Static<typeof gcpWifSecretsSchema>;

export interface ParsedGcpWifConfig {
  audience: string;
  jwtAudience: string;
  serviceAccountEmail: string | undefined;
  scopes: string[];
  tokenUrl: string;
  /** The generateAccessToken URL of `serviceAccountEmail`; undefined without impersonation. */
  impersonationUrl: string | undefined;
  /** Impersonated token lifetime (Google's default when not configured). */
  tokenLifetimeSeconds: number;
  timeoutMs: number;
}

const audienceRegExp = new RegExp(PROVIDER_AUDIENCE_PATTERN);
const emailRegExp = new RegExp(EMAIL_PATTERN);
const scopeRegExp = new RegExp(SCOPE_PATTERN);

/** Checks a config (schema defaults may be missing) and returns it normalised, or its problems. */
export function parseGcpWifConfig(config: GcpWifConfig): { config: ParsedGcpWifConfig } | { issues: string[] } {
  const input: Partial<GcpWifConfig> = typeof config === 'object' && config !== null ? config : {};
  const issues: string[] = [];
  const { audience, jwtAudience, serviceAccountEmail, tokenLifetimeSeconds } = input;
  const { scopes = [GOOGLE_CLOUD_PLATFORM_SCOPE], timeoutMs = 5000 } = input;

  if (typeof audience !== 'string' || !audienceRegExp.test(audience)) {
    issues.push('audience must be //iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>');
  }
  if (jwtAudience !== undefined && (typeof jwtAudience !== 'string' || jwtAudience.length === 0)) issues.push('jwtAudience must be a non-empty string');
  if (serviceAccountEmail !== undefined && (typeof serviceAccountEmail !== 'string' || !emailRegExp.test(serviceAccountEmail))) {
    issues.push('serviceAccountEmail must be a service account email');
  }
  if (!Array.isArray(scopes) || scopes.length === 0 || !scopes.every((scope) => typeof scope === 'string' && scopeRegExp.test(scope))) {
    issues.push('scopes must be a non-empty list of OAuth scopes');
  }
  if (tokenLifetimeSeconds !== undefined) {
    if (!Number.isInteger(tokenLifetimeSeconds) || tokenLifetimeSeconds < 300 || tokenLifetimeSeconds > 43_200) {
      issues.push('tokenLifetimeSeconds must be a whole number from 300 to 43200');
    } else if (serviceAccountEmail === undefined) {
      // A federated token's lifetime is Google's choice; only generateAccessToken takes one.
      issues.push('tokenLifetimeSeconds applies only with serviceAccountEmail');
    }
  }
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 60_000) issues.push('timeoutMs must be a whole number from 100 to 60000');

  // Google's endpoints receive the cloud's JWT and bearer tokens: https, or loopback http (tests).
  const endpoint = (field: string, value: unknown): string | undefined => {
    const parsed = parseEndpointUrl(field, value);
    if (typeof parsed === 'string') {
      issues.push(parsed);
      return undefined;
    }
    if (parsed.search !== '') {
      issues.push(`${field} must not contain a query`);
      return undefined;
    }
    return parsed.href;
  };
  const tokenUrl = endpoint('tokenUrl', input.tokenUrl ?? GOOGLE_STS_TOKEN_URL);
  const iamEndpoint = endpoint('iamCredentialsEndpoint', input.iamCredentialsEndpoint ?? GOOGLE_IAM_CREDENTIALS_ENDPOINT);
  if (issues.length > 0 || tokenUrl === undefined || iamEndpoint === undefined) return { issues };

  const impersonationUrl =
    serviceAccountEmail === undefined
      ? undefined
      : `${iamEndpoint.replace(/\/+$/, '')}/v1/projects/-/serviceAccounts/${serviceAccountEmail}:generateAccessToken`;
  return {
    config: {
      audience: audience as string,
      jwtAudience: jwtAudience ?? (audience as string),
      serviceAccountEmail,
      scopes: [...scopes],
      tokenUrl,
      impersonationUrl,
      tokenLifetimeSeconds: tokenLifetimeSeconds ?? 3600,
      timeoutMs,
    },
  };
}
