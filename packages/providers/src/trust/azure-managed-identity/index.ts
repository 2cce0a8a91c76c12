export {
  APP_SERVICE_API_VERSION,
  AZURE_CLIENT_ID_ENV,
  AZURE_IMDS_ENDPOINT_ENV,
  AZURE_RESOURCE_ENV,
  type AzureManagedIdentityCollectorOptions,
  azureManagedIdentityCollector,
  createAzureManagedIdentityCollector,
  DEFAULT_AZURE_IMDS_ENDPOINT,
  IMDS_API_VERSION,
  IMDS_PROBE_TIMEOUT_MS,
  IMDS_TOKEN_PATH,
} from './collect.js';
export {
  AZURE_TOKEN_ALGORITHMS,
  type AzureManagedIdentityConfig,
  azureManagedIdentityConfigSchema,
  defaultAzureIssuers,
  defaultAzureJwksUri,
  type ResolvedAzureManagedIdentityConfig,
  resolveAzureManagedIdentityConfig,
  validateAzureManagedIdentityConfig,
} from './config.js';
export { AZURE_MANAGED_IDENTITY_EVIDENCE_TYPE, AZURE_MANAGED_IDENTITY_TYPE } from './evidence.js';
export {
  type AzureResourceId,
  azureManagedIdentityClaims,
  azureManagedIdentityTrustProvider,
  createAzureManagedIdentityTrustProvider,
  parseAzureResourceId,
} from './verify.js';
