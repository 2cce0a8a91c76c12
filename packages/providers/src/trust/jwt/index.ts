export { checkFetchUrl } from '../../http/endpoint-url.js';
export { claimedIssuer, issuerToVerify } from './claimed-issuer.js';
export { ClaimReader, claimAsString, COPIED_CLAIM_NAME, copyScalarClaims, readEvidenceToken } from './claims.js';
export {
  type BuildJwtTrustConfigOptions,
  buildJwtTrustConfig,
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  DEFAULT_JWT_TRUST_ALGORITHMS,
  discoveryDocumentUrl,
  JWT_TRUST_ALGORITHMS,
  type JwtKeySpec,
  type JwtTrustAlgorithm,
  type JwtTrustConfig,
  jwtIssuerSchema,
  jwtTrustConfigProperties,
  MAX_CLOCK_TOLERANCE_SECONDS,
  type ResolvedJwtTrustConfig,
} from './config.js';
export { createJwtKeySource, type JwtKeySource, type JwtKeySourceOptions, type JwtTrustProviderOptions } from './key-source.js';
export { FORBIDDEN_JWT_HEADERS, type VerifiedJwt, type VerifyJwtOptions, verifyJwt } from './verify-jwt.js';
export { MAX_JWT_EVIDENCE_BYTES } from './evidence.js';
export { isReadableFile, readTokenFile } from './token-file.js';
