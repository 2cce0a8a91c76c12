export { createOidcCollector, OIDC_TOKEN_ENV, OIDC_TOKEN_FILE_ENV, type OidcCollectorOptions, oidcCollector } from './collect.js';
export { OIDC_EVIDENCE_TYPE, OIDC_TYPE, type OidcConfig, oidcConfigSchema, validateOidcConfig } from './config.js';
export { createOidcTrustProvider, oidcTrustProvider } from './verify.js';
