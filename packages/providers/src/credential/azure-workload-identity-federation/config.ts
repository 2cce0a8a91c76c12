/**
 * Configuration of the `azure-workload-identity-federation` credential provider: its schemas
 * and the pure `parseAzureWifConfig` step shared by `validate` (admin writes) and `issue`, so
 * an unvalidated config fails closed with the same messages.
 *
 * Entra ID only talks https, and so does @azure/identity: `authorityHost` must be https,
 * even in tests (they run a TLS fake on loopback).
 */
import { Type, type Static } from 'typebox';
import { destination } from '../../destination.js';

export const AZURE_WIF_TYPE = 'azure-workload-identity-federation';

/** The audience Entra ID expects in a federated token (public cloud). */
export const AZURE_TOKEN_EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange';
export const DEFAULT_AZURE_AUTHORITY_HOST = 'https://login.microsoftonline.com';

/** Lifetime of each client assertion: Entra reads it once, within seconds. */
export const ASSERTION_LIFETIME_SECONDS = 300;

const GUID_PATTERN = '^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$';
/** Client credentials take exactly one `<resource>/.default` scope. */
const DEFAULT_SCOPE_PATTERN = '^[\\x21-\\x7E]{1,2000}/\\.default$';

export const azureWifConfigSchema = Type.Object(
  {
    // The assertion goes to <authorityHost>/<tenantId>/oauth2/v2.0/token: both decide where.
    tenantId: Type.String({ pattern: GUID_PATTERN, description: 'Directory (tenant) ID of the app registration.', ...destination }),
    clientId: Type.String({ pattern: GUID_PATTERN, description: 'Application (client) ID of the app registration (or user-assigned identity).' }),
    scope: Type.String({ pattern: DEFAULT_SCOPE_PATTERN, description: 'The resource\'s .default scope, e.g. https://storage.azure.com/.default.' }),
    authorityHost: Type.Optional(
      Type.String({ minLength: 1, maxLength: 2048, default: DEFAULT_AZURE_AUTHORITY_HOST, description: 'Entra ID authority host (https).', ...destination }),
    ),
    assertionAudience: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 600,
        default: AZURE_TOKEN_EXCHANGE_AUDIENCE,
        description: '`aud` of the client assertion; must equal the federated credential\'s audience.',
      }),
    ),
    subjectFormat: Type.Optional(
      Type.Enum(['workload-id', 'workload-name'], {
        default: 'workload-id',
        description: '`sub` of the client assertion: `resource-set:<set id>:client-workload:<workload id>` (stable), or the same with their names.',
      }),
    ),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 60_000, default: 5000, description: 'Per request to Entra ID.' })),
  },
  { additionalProperties: false },
);

export type AzureWifConfig = Static<typeof azureWifConfigSchema>;

/** No secrets: the control plane's signing key is the credential. */
export const azureWifSecretsSchema = Type.Object({}, { additionalProperties: false });
export type AzureWifSecrets = Static<typeof azureWifSecretsSchema>;

export interface ParsedAzureWifConfig {
  tenantId: string;
  clientId: string;
  scope: string;
  /** Origin only, no trailing slash: `https://login.microsoftonline.com`. */
  authorityHost: string;
  assertionAudience: string;
  subjectFormat: 'workload-id' | 'workload-name';
  timeoutMs: number;
}

const guid = new RegExp(GUID_PATTERN);
const defaultScope = new RegExp(DEFAULT_SCOPE_PATTERN);

/** An https origin: no credentials, path, query or fragment (the tenant is appended to it). */
function parseAuthorityHost(value: unknown): string | { issue: string } {
  if (typeof value !== 'string' || !URL.canParse(value)) return { issue: 'authorityHost must be an absolute URL' };
  const url = new URL(value);
  if (url.protocol !== 'https:') return { issue: 'authorityHost must use https' };
  if (url.username !== '' || url.password !== '') return { issue: 'authorityHost must not contain credentials' };
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') return { issue: 'authorityHost must be an origin, without path, query or fragment' };
  return url.origin;
}

/** Checks a config (schema defaults may be missing) and returns it normalised, or its problems. */
export function parseAzureWifConfig(config: AzureWifConfig): { config: ParsedAzureWifConfig } | { issues: string[] } {
  const input: Partial<AzureWifConfig> = typeof config === 'object' && config !== null ? config : {};
  const issues: string[] = [];
  const {
    authorityHost = DEFAULT_AZURE_AUTHORITY_HOST,
    assertionAudience = AZURE_TOKEN_EXCHANGE_AUDIENCE,
    subjectFormat = 'workload-id',
    timeoutMs = 5000,
  } = input;
  if (typeof input.tenantId !== 'string' || !guid.test(input.tenantId)) issues.push('tenantId must be a directory (tenant) ID, a GUID');
  if (typeof input.clientId !== 'string' || !guid.test(input.clientId)) issues.push('clientId must be an application (client) ID, a GUID');
  if (typeof input.scope !== 'string' || !defaultScope.test(input.scope)) {
    issues.push('scope must be one resource\'s ".default" scope, e.g. https://storage.azure.com/.default');
  }
  const host = parseAuthorityHost(authorityHost);
  if (typeof host !== 'string') issues.push(host.issue);
  if (typeof assertionAudience !== 'string' || assertionAudience.length === 0 || assertionAudience.length > 600) {
    issues.push('assertionAudience must be a string of 1 to 600 characters');
  }
  if (subjectFormat !== 'workload-id' && subjectFormat !== 'workload-name') issues.push("subjectFormat must be 'workload-id' or 'workload-name'");
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 60_000) issues.push('timeoutMs must be a whole number from 100 to 60000');
  if (issues.length > 0) return { issues };
  return {
    config: {
      // Entra returns tenant and client ids in lower case; compare and key on that form.
      tenantId: (input.tenantId as string).toLowerCase(),
      clientId: (input.clientId as string).toLowerCase(),
      scope: input.scope as string,
      authorityHost: host as string,
      assertionAudience,
      subjectFormat,
      timeoutMs,
    },
  };
}
