/**
 * `azure-managed-identity` trust provider: verifies an Entra ID access token that an Azure
 * managed identity obtained for Tessera's resource (IMDS, App Service), against the tenant's
 * signing keys, and vouches for the identity and the Azure resource it belongs to.
 *
 * Checks, besides the shared JWT core (RS256 only, `iss` one of the tenant's issuers, `aud` =
 * the configured resource, `exp`): `tid` is the configured tenant; the token is an app-only
 * managed identity token (it has `xms_mirid`, the identity's Azure resource id, and no `scp`,
 * which only delegated user tokens carry); the optional subscription and object allow-lists.
 *
 * Warning: every managed identity and service principal of the tenant can request a token for
 * any resource of the tenant. The token proves who the identity is, not that it is allowed:
 * match client workloads on `azure.objectId` or `azure.resourceId`, and restrict
 * `subscriptionIds` here.
 */
import type { JWTPayload } from 'jose';
import type { TrustProvider, VerifiedIdentity } from '../../contracts.js';
import { defineTrustProvider } from '../../define.js';
import { TrustError } from '../../errors.js';
import { ClaimReader, readEvidenceToken } from '../jwt/claims.js';
import { createJwtKeySource, type JwtTrustProviderOptions } from '../jwt/key-source.js';
import { issuerToVerify } from '../jwt/claimed-issuer.js';
import { verifyJwt } from '../jwt/verify-jwt.js';
import {
  type AzureManagedIdentityConfig,
  azureManagedIdentityConfigSchema,
  GUID_PATTERN,
  type ResolvedAzureManagedIdentityConfig,
  resolveAzureManagedIdentityConfig,
  validateAzureManagedIdentityConfig,
} from './config.js';
import { AZURE_MANAGED_IDENTITY_EVIDENCE_TYPE, AZURE_MANAGED_IDENTITY_TYPE } from './evidence.js';

/** What `xms_mirid` says about the identity's Azure resource, lower-cased. */
export interface AzureResourceId {
  subscriptionId: string;
  resourceGroup: string;
  /** `microsoft.compute/virtualmachines`, `microsoft.managedidentity/userassignedidentities` ... */
  resourceType: string;
  /** The resource's name; nested resources join their names with `/`. */
  resourceName: string;
  /** The whole id, lower-cased. */
  resourceId: string;
}

const guid = new RegExp(GUID_PATTERN);
const RESOURCE_GROUP = /^[-\w.()]{1,90}$/;
const PROVIDER_NAMESPACE = /^[A-Za-z][A-Za-z0-9.]{0,99}$/;
const TYPE_SEGMENT = /^[A-Za-z][A-Za-z0-9]{0,99}$/;
const NAME_SEGMENT = /^[^\s/?#%\\]{1,260}$/;

/**
 * Parses an ARM resource id: `/subscriptions/{sub}/resourcegroups/{rg}/providers/{namespace}/
 * {type}/{name}[/{type}/{name}]...`, e.g. a user-assigned identity
 * (`Microsoft.ManagedIdentity/userAssignedIdentities/{name}`) or a VM's system-assigned one
 * (`Microsoft.Compute/virtualMachines/{vm}`). Azure resource ids are case-insensitive, so the
 * parts are lower-cased: claims then match one way only. `undefined` when it is not one.
 */
export function parseAzureResourceId(value: string): AzureResourceId | undefined {
  if (value.length > 2048) return undefined;
  const parts = value.split('/');
  const [empty, subscriptions, subscriptionId, resourceGroups, resourceGroup, providers, namespace, ...rest] = parts;
  if (empty !== '' || subscriptions?.toLowerCase() !== 'subscriptions' || resourceGroups?.toLowerCase() !== 'resourcegroups') return undefined;
  if (providers?.toLowerCase() !== 'providers' || subscriptionId === undefined || !guid.test(subscriptionId)) return undefined;
  if (resourceGroup === undefined || !RESOURCE_GROUP.test(resourceGroup) || namespace === undefined || !PROVIDER_NAMESPACE.test(namespace)) return undefined;
  if (rest.length === 0 || rest.length % 2 !== 0) return undefined;
  const types: string[] = [namespace];
  const names: string[] = [];
  for (let i = 0; i < rest.length; i += 2) {
    const type = rest[i] as string;
    const name = rest[i + 1] as string;
    if (!TYPE_SEGMENT.test(type) || !NAME_SEGMENT.test(name)) return undefined;
    types.push(type);
    names.push(name);
  }
  const lower = (text: string) => text.toLowerCase();
  return {
    subscriptionId: lower(subscriptionId),
    resourceGroup: lower(resourceGroup),
    resourceType: types.map(lower).join('/'),
    resourceName: names.map(lower).join('/'),
    resourceId: lower(value),
  };
}

const refuse = (message: string) => new TrustError('evidence_invalid', message, { provider: AZURE_MANAGED_IDENTITY_TYPE });

/** Maps a verified managed identity token to claims; throws `evidence_invalid` when it is not one. */
export function azureManagedIdentityClaims(payload: JWTPayload, config: Pick<ResolvedAzureManagedIdentityConfig, 'tenantId'>): Record<string, string> {
  const reader = new ClaimReader(payload, AZURE_MANAGED_IDENTITY_TYPE);
  const tenantId = reader.required('tid').toLowerCase();
  if (tenantId !== config.tenantId) throw refuse('"tid" is not the configured tenant');
  // A delegated token is a user's, not a workload's, even for the right resource.
  if (payload.scp !== undefined) throw refuse('"scp" claim present: a delegated (user) token, not a managed identity token');
  const objectId = reader.required('oid').toLowerCase();
  if (!guid.test(objectId)) throw refuse('"oid" claim is invalid');
  // v1 tokens name the client in "appid", v2 tokens in "azp".
  const appId = (reader.optional('appid') ?? reader.optional('azp'))?.toLowerCase();
  if (appId === undefined) throw refuse('missing "appid" (or "azp") claim');
  const mirid = reader.optional('xms_mirid');
  if (mirid === undefined) throw refuse('missing "xms_mirid" claim: not a managed identity token');
  const resource = parseAzureResourceId(mirid);
  if (resource === undefined) throw refuse('"xms_mirid" claim is not an Azure resource id');
  return {
    'azure.tenantId': tenantId,
    'azure.objectId': objectId,
    'azure.appId': appId,
    'azure.subscriptionId': resource.subscriptionId,
    'azure.resourceGroup': resource.resourceGroup,
    'azure.resourceType': resource.resourceType,
    'azure.resourceName': resource.resourceName,
    'azure.resourceId': resource.resourceId,
  };
}

export function createAzureManagedIdentityTrustProvider(
  options: JwtTrustProviderOptions = {},
): TrustProvider<AzureManagedIdentityConfig> & { readonly configSchema: typeof azureManagedIdentityConfigSchema } {
  const keySource = options.keySource ?? createJwtKeySource();
  return defineTrustProvider({
    specificationVersion: 'v1',
    type: AZURE_MANAGED_IDENTITY_TYPE,
    evidenceType: AZURE_MANAGED_IDENTITY_EVIDENCE_TYPE,
    configSchema: azureManagedIdentityConfigSchema,
    validate: validateAzureManagedIdentityConfig,
    acceptedIssuers(config) {
      const resolved = resolveAzureManagedIdentityConfig(config);
      // An unusable config accepts nothing here; verify would refuse it anyway.
      return resolved.ok ? resolved.value.issuers : [];
    },
    async verify(evidence, config, ctx): Promise<VerifiedIdentity> {
      const token = readEvidenceToken(evidence, AZURE_MANAGED_IDENTITY_EVIDENCE_TYPE, AZURE_MANAGED_IDENTITY_TYPE);
      const resolved = resolveAzureManagedIdentityConfig(config);
      if (!resolved.ok) {
        throw new TrustError('invalid_config', `invalid configuration: ${resolved.issues.join('; ')}`, { provider: AZURE_MANAGED_IDENTITY_TYPE });
      }
      const settings = resolved.value;
      // The configured issuer the token claims to be from; verifyJwt then checks it exactly.
      const jwtConfig = settings.jwt(issuerToVerify(token, settings.issuers));
      const { payload, expiresAt } = await verifyJwt(token, jwtConfig, ctx, keySource, { provider: AZURE_MANAGED_IDENTITY_TYPE });
      const claims = azureManagedIdentityClaims(payload, settings);
      if (settings.subscriptionIds !== undefined && !settings.subscriptionIds.has(claims['azure.subscriptionId'] as string)) {
        throw refuse('the identity\'s subscription is not in subscriptionIds');
      }
      if (settings.objectIds !== undefined && !settings.objectIds.has(claims['azure.objectId'] as string)) {
        throw refuse('"oid" is not in objectIds');
      }
      return { claims, expiresAt, subject: claims['azure.objectId'] as string };
    },
  });
}

/** The built-in instance, listed in the catalog. */
export const azureManagedIdentityTrustProvider = /* @__PURE__ */ createAzureManagedIdentityTrustProvider();
