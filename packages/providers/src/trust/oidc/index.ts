export { createOidcCollector, OIDC_TOKEN_ENV, OIDC_TOKEN_FILE_ENV, type OidcCollectorOptions, oidcCollector } from './collect.js';
export { type OidcConfig, oidcConfigSchema, validateOidcConfig } from './config.js';
export { OIDC_EVIDENCE_TYPE, OIDC_TYPE } from './evidence.js';
export { createOidcTrustProvider, oidcTrustProvider } from './verify.js';
