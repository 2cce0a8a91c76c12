/**
 * Configuration of the `azure-managed-identity` trust provider: the Entra ID tenant whose
 * managed identities are trusted and the resource (App ID URI) their tokens are requested for.
 *
 * A managed identity token's audience is that resource, not the control plane's URL: IMDS
 * mints tokens for Entra resources only. Binding the evidence to this control plane is
 * therefore `audience`: a resource (an app registration) dedicated to Tessera, so a token
 * meant for any other API is refused, and a token meant for Tessera is useless elsewhere.
 */
import { Type, type Static } from 'typebox';
import { buildJwtTrustConfig, DEFAULT_CLOCK_TOLERANCE_SECONDS, jwtTrustConfigProperties, type JwtTrustConfig } from '../jwt/config.js';

/** Entra ID signs access tokens with RSA keys only. */
export const AZURE_TOKEN_ALGORITHMS = ['RS256'] as const;

export const GUID_PATTERN = '^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$';
const guid = (description: string) => Type.String({ pattern: GUID_PATTERN, description });
const guidList = (maxItems: number, description: string) => Type.Array(Type.String({ pattern: GUID_PATTERN }), { minItems: 1, maxItems, uniqueItems: true, description });

/** v1 tokens (what IMDS issues by default) and v2 tokens, public cloud. */
export function defaultAzureIssuers(tenantId: string): string[] {
  return [`https://sts.windows.net/${tenantId}/`, `https://login.microsoftonline.com/${tenantId}/v2.0`];
}

export function defaultAzureJwksUri(tenantId: string): string {
  return `https://login.microsoftonline.com/${tenantId}/discovery/v2.0/keys`;
}

export const azureManagedIdentityConfigSchema = Type.Object(
  {
    tenantId: guid('Directory (tenant) ID; "tid" must equal it.'),
    audience: Type.String({
      minLength: 1,
      maxLength: 2048,
      description: 'The resource the tokens are requested for (the App ID URI of Tessera\'s app registration), expected in "aud".',
    }),
    issuers: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 2048 }), {
        minItems: 1,
        maxItems: 4,
        uniqueItems: true,
        description: 'Accepted "iss" values; default https://sts.windows.net/<tenant>/ and https://login.microsoftonline.com/<tenant>/v2.0.',
      }),
    ),
    jwksUri: Type.Optional(
      Type.String({ minLength: 1, maxLength: 2048, description: 'Entra ID signing keys; default https://login.microsoftonline.com/<tenant>/discovery/v2.0/keys.' }),
    ),
    clockToleranceSeconds: jwtTrustConfigProperties.clockToleranceSeconds,
    maxTokenAgeSeconds: jwtTrustConfigProperties.maxTokenAgeSeconds,
    subscriptionIds: Type.Optional(guidList(100, 'Accept only managed identities of these subscriptions.')),
    objectIds: Type.Optional(guidList(1000, 'Accept only these managed identities (object / principal ids).')),
  },
  { additionalProperties: false },
);

export type AzureManagedIdentityConfig = Static<typeof azureManagedIdentityConfigSchema>;

export interface ResolvedAzureManagedIdentityConfig {
  /** Lower case, as Entra writes `tid`. */
  tenantId: string;
  issuers: string[];
  /** The JWT part for one accepted issuer. */
  jwt(issuer: string): JwtTrustConfig;
  subscriptionIds: Set<string> | undefined;
  objectIds: Set<string> | undefined;
}

const guidRegExp = new RegExp(GUID_PATTERN);
const isGuidList = (value: unknown): value is string[] => Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string' && guidRegExp.test(v));

/** Resolves the config into what verification needs, or the problems found (schema rules re-checked). */
export function resolveAzureManagedIdentityConfig(
  config: AzureManagedIdentityConfig,
): { ok: true; value: ResolvedAzureManagedIdentityConfig } | { ok: false; issues: string[] } {
  const input: Partial<AzureManagedIdentityConfig> = typeof config === 'object' && config !== null ? config : {};
  const issues: string[] = [];
  if (typeof input.tenantId !== 'string' || !guidRegExp.test(input.tenantId)) {
    return { ok: false, issues: ['tenantId must be a directory (tenant) ID, a GUID'] };
  }
  const tenantId = input.tenantId.toLowerCase();
  const issuers = input.issuers ?? defaultAzureIssuers(tenantId);
  if (!Array.isArray(issuers) || issuers.length === 0 || issuers.length > 4) issues.push('issuers must hold 1 to 4 issuer URLs');
  else {
    // An issuer of another tenant would make "tid" the only tenant check left: refuse it up front.
    for (const issuer of issuers) {
      if (typeof issuer !== 'string' || !issuer.toLowerCase().includes(`/${tenantId}/`)) {
        issues.push('issuers must each contain the tenant id as a path segment (/<tenantId>/)');
        break;
      }
    }
  }
  if (input.subscriptionIds !== undefined && !isGuidList(input.subscriptionIds)) issues.push('subscriptionIds must be a non-empty list of GUIDs');
  if (input.objectIds !== undefined && !isGuidList(input.objectIds)) issues.push('objectIds must be a non-empty list of GUIDs');

  const jwt = (issuer: string): JwtTrustConfig => ({
    issuer,
    audience: input.audience,
    jwksUri: input.jwksUri ?? defaultAzureJwksUri(tenantId),
    algorithms: [...AZURE_TOKEN_ALGORITHMS],
    clockToleranceSeconds: input.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS,
    maxTokenAgeSeconds: input.maxTokenAgeSeconds,
  });
  if (typeof input.audience !== 'string' || input.audience.length === 0) issues.push('audience must be the resource (App ID URI) the tokens are requested for');
  else if (Array.isArray(issuers) && typeof issuers[0] === 'string') {
    // The shared JWT rules: a fetchable jwksUri (https, or http on loopback), sane tolerances.
    const built = buildJwtTrustConfig(jwt(issuers[0]));
    if (!built.ok) issues.push(...built.issues);
  }
  if (issues.length > 0) return { ok: false, issues };
  const lower = (list: string[] | undefined) => (list === undefined ? undefined : new Set(list.map((v) => v.toLowerCase())));
  return {
    ok: true,
    value: { tenantId, issuers: [...issuers], jwt, subscriptionIds: lower(input.subscriptionIds), objectIds: lower(input.objectIds) },
  };
}

export function validateAzureManagedIdentityConfig(config: AzureManagedIdentityConfig): string[] {
  const resolved = resolveAzureManagedIdentityConfig(config);
  return resolved.ok ? [] : resolved.issues;
}
