export {
  createGcpIdentityTokenCollector,
  DEFAULT_GCP_METADATA_ENDPOINT,
  GCE_METADATA_HOST_ENV,
  GCP_DETECT_TIMEOUT_MS,
  GCP_METADATA_ENDPOINT_ENV,
  type GcpIdentityTokenCollectorOptions,
  gcpIdentityTokenCollector,
} from './collect.js';
export {
  acceptedIssuers as gcpAcceptedIssuers,
  GCP_IDENTITY_TOKEN_ALGORITHMS,
  type GcpIdentityTokenConfig,
  gcpIdentityTokenConfigSchema,
  gcpJwtConfig,
  GOOGLE_ISSUER,
  GOOGLE_ISSUER_BARE,
  GOOGLE_JWKS_URI,
  validateGcpIdentityTokenConfig,
} from './config.js';
export { GCP_IDENTITY_TOKEN_EVIDENCE_TYPE, GCP_IDENTITY_TOKEN_TYPE } from './evidence.js';
export { createGcpIdentityTokenTrustProvider, gcpIdentityTokenClaims, gcpIdentityTokenTrustProvider } from './verify.js';
