/**
 * `oidc` trust provider: verifies a JWT from a configured OpenID Connect issuer and vouches
 * for `oidc.issuer`, `oidc.subject` and each top-level scalar claim as `oidc.claim.<name>`
 * (objects and arrays are skipped, and so are names outside `COPIED_CLAIM_NAME`).
 *
 * Warning: every claim the issuer signs becomes matchable; match client workloads on claims
 * the issuer controls (`sub`, a repository, a project), never on ones the workload chooses.
 */
import type { TrustProvider } from '../../contracts.js';
import { defineTrustProvider } from '../../define.js';
import { ClaimReader, copyScalarClaims, readEvidenceToken } from '../jwt/claims.js';
import { createJwtKeySource, type JwtTrustProviderOptions } from '../jwt/key-source.js';
import { verifyJwt } from '../jwt/verify-jwt.js';
import { type OidcConfig, oidcConfigSchema, validateOidcConfig } from './config.js';
import { OIDC_EVIDENCE_TYPE, OIDC_TYPE } from './evidence.js';

export function createOidcTrustProvider(options: JwtTrustProviderOptions = {}): TrustProvider<OidcConfig> & { readonly configSchema: typeof oidcConfigSchema } {
  const keySource = options.keySource ?? createJwtKeySource();
  return defineTrustProvider({
    specificationVersion: 'v1',
    type: OIDC_TYPE,
    evidenceType: OIDC_EVIDENCE_TYPE,
    configSchema: oidcConfigSchema,
    validate: validateOidcConfig,
    acceptedIssuers: (config) => [config.issuer],
    async verify(evidence, config, ctx) {
      const token = readEvidenceToken(evidence, OIDC_EVIDENCE_TYPE, OIDC_TYPE);
      const { payload, expiresAt } = await verifyJwt(token, config, ctx, keySource, { provider: OIDC_TYPE });
      const subject = new ClaimReader(payload, OIDC_TYPE).required('sub');
      const claims = {
        ...copyScalarClaims(payload, 'oidc.claim.'),
        'oidc.issuer': config.issuer,
        'oidc.subject': subject,
      };
      return { claims, expiresAt, subject };
    },
  });
}

/** The built-in instance, listed in the catalog. */
export const oidcTrustProvider = /* @__PURE__ */ createOidcTrustProvider();
