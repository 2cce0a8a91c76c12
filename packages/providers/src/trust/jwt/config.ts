/**
 * Configuration shared by every JWT trust provider: the schema properties each provider
 * spreads into its own config schema, and `buildJwtTrustConfig`, the one pure step that the
 * `validate` hook (admin writes) and `verify` (fail closed at run time) both run.
 */
import type { JSONWebKeySet } from 'jose';
import { Type } from 'typebox';
import { checkFetchUrl } from '../../http/endpoint-url.js';

/** Asymmetric signature algorithms only: HS* would turn a public key into a shared secret. */
export const JWT_TRUST_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
export type JwtTrustAlgorithm = (typeof JWT_TRUST_ALGORITHMS)[number];
export const DEFAULT_JWT_TRUST_ALGORITHMS: readonly JwtTrustAlgorithm[] = ['RS256', 'ES256'];
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 30;
export const MAX_CLOCK_TOLERANCE_SECONDS = 300;
const MAX_TOKEN_AGE_SECONDS = 366 * 24 * 3600;
const MAX_JWKS_KEYS = 100;

/** JWK members that only a private or symmetric key has: such a key must never sit in config. */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

const urlString = (description: string) => Type.String({ minLength: 1, maxLength: 2048, description });

/** Schema properties every JWT provider shares; each provider adds its own `issuer`. */
export const jwtTrustConfigProperties = {
  audience: Type.Optional(urlString('Expected "aud"; defaults to this cloud\'s URL.')),
  jwksUri: Type.Optional(urlString('JWKS URL: https, or http on a loopback host only.')),
  jwks: Type.Optional(
    Type.Object(
      {
        keys: Type.Array(Type.Object({ kty: Type.String({ minLength: 1, maxLength: 16 }) }, { additionalProperties: true }), {
          minItems: 1,
          maxItems: MAX_JWKS_KEYS,
        }),
      },
      { additionalProperties: false, description: 'Inline JWKS of public keys.' },
    ),
  ),
  discovery: Type.Optional(Type.Boolean({ description: 'Find the JWKS through <issuer>/.well-known/openid-configuration.' })),
  algorithms: Type.Optional(
    Type.Array(Type.Enum(JWT_TRUST_ALGORITHMS), {
      minItems: 1,
      maxItems: JWT_TRUST_ALGORITHMS.length,
      uniqueItems: true,
      default: [...DEFAULT_JWT_TRUST_ALGORITHMS],
      description: 'Accepted "alg" values.',
    }),
  ),
  clockToleranceSeconds: Type.Optional(
    Type.Integer({ minimum: 0, maximum: MAX_CLOCK_TOLERANCE_SECONDS, default: DEFAULT_CLOCK_TOLERANCE_SECONDS }),
  ),
  maxTokenAgeSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TOKEN_AGE_SECONDS, description: 'Refuse tokens whose "iat" is older.' })),
};

export const jwtIssuerSchema = urlString('Expected "iss", matched exactly.');

/** The JWT part of a provider's config, as stored (after schema defaults). */
export interface JwtTrustConfig {
  issuer: string;
  audience?: string | undefined;
  jwksUri?: string | undefined;
  jwks?: { keys: readonly object[] } | undefined;
  discovery?: boolean | undefined;
  algorithms?: readonly string[] | undefined;
  clockToleranceSeconds?: number | undefined;
  maxTokenAgeSeconds?: number | undefined;
}

/** Where the verification keys come from. `discovery` fetches only `documentUrl`, then its `jwks_uri`. */
export type JwtKeySpec =
  | { kind: 'jwks-uri'; url: string }
  | { kind: 'inline'; jwks: JSONWebKeySet }
  | { kind: 'discovery'; issuer: string; documentUrl: string };

export interface ResolvedJwtTrustConfig {
  issuer: string;
  /** Configured override; `undefined` means the cloud's audience. */
  audience: string | undefined;
  keys: JwtKeySpec;
  algorithms: JwtTrustAlgorithm[];
  clockToleranceSeconds: number;
  maxTokenAgeSeconds: number | undefined;
}

export interface BuildJwtTrustConfigOptions {
  /** Use discovery when no key source is configured (GitHub Actions); otherwise one is required. */
  defaultDiscovery?: boolean;
}

export function discoveryDocumentUrl(issuer: string): string {
  return `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
}

function checkInlineJwks(jwks: unknown, issues: string[]): JSONWebKeySet | undefined {
  const keys: unknown = typeof jwks === 'object' && jwks !== null ? (jwks as { keys?: unknown }).keys : undefined;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > MAX_JWKS_KEYS) {
    issues.push(`jwks.keys must hold 1 to ${MAX_JWKS_KEYS} keys`);
    return undefined;
  }
  keys.forEach((key: unknown, index) => {
    const jwk = typeof key === 'object' && key !== null ? (key as Record<string, unknown>) : undefined;
    if (jwk === undefined || typeof jwk.kty !== 'string') issues.push(`jwks.keys[${index}] must be a JWK with a "kty"`);
    else if (jwk.kty === 'oct' || PRIVATE_JWK_MEMBERS.some((member) => member in jwk)) {
      issues.push(`jwks.keys[${index}] must be a public key (private or symmetric key material found)`);
    }
  });
  return jwks as JSONWebKeySet;
}

function resolveKeys(config: JwtTrustConfig, options: BuildJwtTrustConfigOptions, issues: string[]): JwtKeySpec | undefined {
  const chosen = [config.jwksUri !== undefined, config.jwks !== undefined, config.discovery === true].filter(Boolean).length;
  const implied = chosen === 0 && options.defaultDiscovery === true && config.discovery !== false;
  if (chosen > 1 || (chosen === 0 && !implied)) {
    issues.push('exactly one of jwksUri, jwks or discovery: true must be set');
    return undefined;
  }
  if (config.jwksUri !== undefined) {
    const issue = checkFetchUrl(config.jwksUri, 'jwksUri');
    if (issue !== undefined) issues.push(issue);
    return issue === undefined ? { kind: 'jwks-uri', url: new URL(config.jwksUri).href } : undefined;
  }
  if (config.jwks !== undefined) {
    const jwks = checkInlineJwks(config.jwks, issues);
    return jwks === undefined ? undefined : { kind: 'inline', jwks };
  }
  const issue = checkFetchUrl(config.issuer, 'issuer (with discovery)');
  if (issue !== undefined) issues.push(issue);
  return issue === undefined ? { kind: 'discovery', issuer: config.issuer, documentUrl: discoveryDocumentUrl(config.issuer) } : undefined;
}

function isAllowedAlgorithm(value: unknown): value is JwtTrustAlgorithm {
  return (JWT_TRUST_ALGORITHMS as readonly unknown[]).includes(value);
}

/** Resolves a config into what verification needs, or the list of problems found. */
export function buildJwtTrustConfig(
  config: JwtTrustConfig,
  options: BuildJwtTrustConfigOptions = {},
): { ok: true; value: ResolvedJwtTrustConfig } | { ok: false; issues: string[] } {
  const issues: string[] = [];
  if (typeof config.issuer !== 'string' || config.issuer.length === 0) issues.push('issuer must be a non-empty string');
  if (config.audience !== undefined && (typeof config.audience !== 'string' || config.audience.length === 0)) {
    issues.push('audience must be a non-empty string');
  }
  const algorithms = config.algorithms ?? DEFAULT_JWT_TRUST_ALGORITHMS;
  if (!Array.isArray(algorithms) || algorithms.length === 0 || !algorithms.every(isAllowedAlgorithm)) {
    issues.push(`algorithms must be a non-empty list of ${JWT_TRUST_ALGORITHMS.join(', ')}`);
  }
  const tolerance = config.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
  if (!Number.isInteger(tolerance) || tolerance < 0 || tolerance > MAX_CLOCK_TOLERANCE_SECONDS) {
    issues.push(`clockToleranceSeconds must be an integer from 0 to ${MAX_CLOCK_TOLERANCE_SECONDS}`);
  }
  const maxAge = config.maxTokenAgeSeconds;
  if (maxAge !== undefined && (!Number.isInteger(maxAge) || maxAge < 1 || maxAge > MAX_TOKEN_AGE_SECONDS)) {
    issues.push(`maxTokenAgeSeconds must be an integer from 1 to ${MAX_TOKEN_AGE_SECONDS}`);
  }
  const keys = issues.some((issue) => issue.startsWith('issuer')) ? undefined : resolveKeys(config, options, issues);
  if (keys === undefined || issues.length > 0) return { ok: false, issues };
  return {
    ok: true,
    value: {
      issuer: config.issuer,
      audience: config.audience,
      keys,
      algorithms: [...(algorithms as JwtTrustAlgorithm[])],
      clockToleranceSeconds: tolerance,
      maxTokenAgeSeconds: maxAge,
    },
  };
}
