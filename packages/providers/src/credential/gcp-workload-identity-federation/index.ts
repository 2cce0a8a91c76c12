export {
  GCP_WIF_SUBJECT_TOKEN_LIFETIME_SECONDS,
  GCP_WIF_TYPE,
  type GcpWifConfig,
  gcpWifConfigSchema,
  type GcpWifSecrets,
  gcpWifSecretsSchema,
  GOOGLE_CLOUD_PLATFORM_SCOPE,
  GOOGLE_IAM_CREDENTIALS_ENDPOINT,
  GOOGLE_STS_TOKEN_URL,
  parseGcpWifConfig,
  type ParsedGcpWifConfig,
} from './config.js';
export {
  createGcpWorkloadIdentityFederationProvider,
  type GcpWorkloadIdentityFederationProvider,
  gcpWorkloadIdentityFederationProvider,
  type GcpWorkloadIdentityFederationProviderOptions,
} from './gcp-workload-identity-federation.js';
