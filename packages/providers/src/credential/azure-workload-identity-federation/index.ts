export {
  ASSERTION_LIFETIME_SECONDS,
  AZURE_TOKEN_EXCHANGE_AUDIENCE,
  AZURE_WIF_TYPE,
  type AzureWifConfig,
  azureWifConfigSchema,
  type AzureWifSecrets,
  azureWifSecretsSchema,
  DEFAULT_AZURE_AUTHORITY_HOST,
  type ParsedAzureWifConfig,
  parseAzureWifConfig,
} from './config.js';
export {
  AZURE_ASSERTION_ALGORITHM,
  type AzureWorkloadIdentityFederationProvider,
  type AzureWorkloadIdentityFederationProviderOptions,
  azureWorkloadIdentityFederationProvider,
  createAzureWorkloadIdentityFederationProvider,
} from './azure-workload-identity-federation.js';
