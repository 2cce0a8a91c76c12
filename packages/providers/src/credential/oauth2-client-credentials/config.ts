/**
 * Configuration of the `oauth2-client-credentials` credential provider: its schemas and the
 * pure `parseOAuth2ClientCredentialsConfig` step shared by `validate` (admin writes) and
 * `issue`, so an unvalidated config fails closed with the same messages.
 *
 * Endpoints must be https; plain http is accepted only for loopback hosts (local token
 * servers, tests), since the client secret or assertion travels in the request.
 */
import { Type, type Static } from 'typebox';
import { destination } from '../../destination.js';
import { parseEndpointUrl } from '../../http/endpoint-url.js';

export const OAUTH2_CLIENT_CREDENTIALS_TYPE = 'oauth2-client-credentials';

export const OAUTH2_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const;
export type OAuth2AuthMethod = (typeof OAUTH2_AUTH_METHODS)[number];

/** JWS algorithms for `private_key_jwt` assertions (asymmetric only; HS* would need the secret). */
export const OAUTH2_ASSERTION_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'Ed25519'] as const;
export type OAuth2AssertionAlgorithm = (typeof OAUTH2_ASSERTION_ALGORITHMS)[number];

/** RFC 6749 §3.3: scope tokens separated by single spaces. */
const SCOPE_PATTERN = '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+( [\\x21\\x23-\\x5B\\x5D-\\x7E]+)*$';
const url = (description: string) => Type.String({ minLength: 1, maxLength: 2048, description });

export const oauth2ClientCredentialsConfigSchema = Type.Object(
  {
    // Where the client secret (or the assertion signed with the private key) is sent.
    issuer: Type.Optional({ ...url('Issuer; without tokenEndpoint, its /.well-known/openid-configuration is read.'), ...destination }),
    tokenEndpoint: Type.Optional({ ...url('Token endpoint; skips discovery.'), ...destination }),
    clientId: Type.String({ minLength: 1, maxLength: 256 }),
    authMethod: Type.Enum([...OAUTH2_AUTH_METHODS], { description: 'How the client authenticates to the token endpoint.' }),
    scope: Type.Optional(Type.String({ pattern: SCOPE_PATTERN, maxLength: 2048, description: 'Space-separated scopes.' })),
    audience: Type.Optional(Type.String({ minLength: 1, maxLength: 2048, description: '`audience` form field (Auth0 style).' })),
    resource: Type.Optional(
      Type.Union([url('RFC 8707 resource'), Type.Array(url('RFC 8707 resource'), { minItems: 1, maxItems: 10, uniqueItems: true })]),
    ),
    tokenEndpointAuthSigningAlg: Type.Optional(
      Type.Enum([...OAUTH2_ASSERTION_ALGORITHMS], { description: 'private_key_jwt only; default from the key type.' }),
    ),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 60_000, default: 5000 })),
  },
  { additionalProperties: false },
);

export type OAuth2ClientCredentialsConfig = Static<typeof oauth2ClientCredentialsConfigSchema>;

/** Both optional: which one is needed depends on `authMethod`, checked when issuing. */
export const oauth2ClientCredentialsSecretsSchema = Type.Object(
  {
    clientSecret: Type.Optional(Type.String({ minLength: 1, maxLength: 8192, description: 'For client_secret_basic and _post.' })),
    privateKey: Type.Optional(Type.String({ minLength: 1, maxLength: 16_384, description: 'PEM PKCS#8, for private_key_jwt.' })),
  },
  { additionalProperties: false },
);

export type OAuth2ClientCredentialsSecrets = Static<typeof oauth2ClientCredentialsSecretsSchema>;

export interface ParsedOAuth2Config {
  /** As configured (not re-serialised: `aud` of a client assertion must match it exactly). */
  issuer: string | undefined;
  tokenEndpoint: string | undefined;
  /** An http loopback endpoint is involved: openid-client must allow plain http. */
  insecure: boolean;
  clientId: string;
  authMethod: OAuth2AuthMethod;
  scope: string | undefined;
  audience: string | undefined;
  resources: string[];
  signingAlg: OAuth2AssertionAlgorithm | undefined;
  timeoutMs: number;
}

const scopeRegExp = new RegExp(SCOPE_PATTERN);
const includes = <T extends string>(list: readonly T[], value: unknown): value is T => list.includes(value as T);

/** Checks a config (schema defaults may be missing) and returns it normalised, or its problems. */
export function parseOAuth2ClientCredentialsConfig(config: OAuth2ClientCredentialsConfig): { config: ParsedOAuth2Config } | { issues: string[] } {
  const input: Partial<OAuth2ClientCredentialsConfig> = typeof config === 'object' && config !== null ? config : {};
  const issues: string[] = [];
  let insecure = false;
  const endpoint = (field: string, value: unknown): string | undefined => {
    if (value === undefined) return undefined;
    const parsed = parseEndpointUrl(field, value);
    if (typeof parsed === 'string') issues.push(parsed);
    else insecure ||= parsed.protocol === 'http:';
    return value as string;
  };

  const issuer = endpoint('issuer', input.issuer);
  const tokenEndpoint = endpoint('tokenEndpoint', input.tokenEndpoint);
  if (input.issuer === undefined && input.tokenEndpoint === undefined) issues.push('one of issuer or tokenEndpoint is required');
  if (typeof input.clientId !== 'string' || input.clientId.length === 0) issues.push('clientId must be a non-empty string');
  if (!includes(OAUTH2_AUTH_METHODS, input.authMethod)) issues.push(`authMethod must be one of ${OAUTH2_AUTH_METHODS.join(', ')}`);
  if (input.scope !== undefined && (typeof input.scope !== 'string' || !scopeRegExp.test(input.scope))) {
    issues.push('scope must be scope tokens separated by single spaces');
  }
  if (input.audience !== undefined && (typeof input.audience !== 'string' || input.audience.length === 0)) {
    issues.push('audience must be a non-empty string');
  }
  const resources: unknown[] = input.resource === undefined ? [] : Array.isArray(input.resource) ? input.resource : [input.resource];
  for (const resource of resources) {
    // RFC 8707 §2: an absolute URI without a fragment; it is sent, never fetched, so http is fine.
    if (typeof resource !== 'string' || !URL.canParse(resource) || new URL(resource).hash !== '') {
      issues.push('resource must be absolute URLs without a fragment');
      break;
    }
  }
  const signingAlg = input.tokenEndpointAuthSigningAlg;
  if (signingAlg !== undefined && !includes(OAUTH2_ASSERTION_ALGORITHMS, signingAlg)) {
    issues.push(`tokenEndpointAuthSigningAlg must be one of ${OAUTH2_ASSERTION_ALGORITHMS.join(', ')}`);
  } else if (signingAlg !== undefined && input.authMethod !== 'private_key_jwt') {
    issues.push('tokenEndpointAuthSigningAlg applies only to authMethod private_key_jwt');
  }
  const timeoutMs = input.timeoutMs ?? 5000;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 60_000) issues.push('timeoutMs must be a whole number from 100 to 60000');
  if (issues.length > 0) return { issues };

  return {
    config: {
      issuer,
      tokenEndpoint,
      insecure,
      clientId: input.clientId as string,
      authMethod: input.authMethod as OAuth2AuthMethod,
      scope: input.scope,
      audience: input.audience,
      resources: resources as string[],
      signingAlg,
      timeoutMs,
    },
  };
}
