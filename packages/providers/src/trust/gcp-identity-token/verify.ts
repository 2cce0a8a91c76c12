/**
 * `gcp-identity-token` trust provider: verifies a Google-signed ID token that a workload got
 * from its metadata server with this cloud as audience, and vouches for the service account
 * and, for a Compute Engine token (`format=full`), the project, zone and VM.
 *
 * Claims: always `gcp.subject` (`sub`, the service account's unique id); `gcp.serviceAccountEmail`
 * when the token has `email` (then `email_verified` must be true); and `gcp.projectId`,
 * `gcp.projectNumber`, `gcp.zone`, `gcp.instanceId`, `gcp.instanceName` only when it has
 * `google.compute_engine` (a VM, `format=full`). A token without that object (`format=standard`,
 * Cloud Run, Cloud Functions ...) verifies, without those claims.
 *
 * Warning: every Google service account, in any project of any customer, can mint a token for
 * this cloud's audience. Set `projectIds` or `serviceAccountEmails`, or match client workloads on
 * `gcp.serviceAccountEmail` / `gcp.projectId`, never on `gcp.instanceName` or `gcp.zone` alone.
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
  acceptedIssuers,
  type GcpIdentityTokenConfig,
  gcpIdentityTokenConfigSchema,
  gcpJwtConfig,
  validateGcpIdentityTokenConfig,
} from './config.js';
import { GCP_IDENTITY_TOKEN_EVIDENCE_TYPE, GCP_IDENTITY_TOKEN_TYPE } from './evidence.js';

function refuse(message: string): TrustError {
  return new TrustError('evidence_invalid', message, { provider: GCP_IDENTITY_TOKEN_TYPE });
}

/** Tessera claim ← `google.compute_engine` member; all present together or not at all. */
const COMPUTE_ENGINE_CLAIMS: ReadonlyArray<readonly [string, string]> = [
  ['gcp.projectId', 'project_id'],
  ['gcp.projectNumber', 'project_number'],
  ['gcp.zone', 'zone'],
  ['gcp.instanceId', 'instance_id'],
  ['gcp.instanceName', 'instance_name'],
];

/** Maps a verified Google ID token payload to claims; throws on a malformed one. */
export function gcpIdentityTokenClaims(payload: JWTPayload): Record<string, string> {
  const root = new ClaimReader(payload, GCP_IDENTITY_TOKEN_TYPE);
  const claims: Record<string, string> = { 'gcp.subject': root.required('sub') };
  const email = root.optional('email');
  if (email !== undefined) {
    // An unverified email is a name anybody could have typed: never vouch for it.
    if (payload.email_verified !== true && payload.email_verified !== 'true') throw refuse('"email_verified" is not true');
    claims['gcp.serviceAccountEmail'] = email;
  }
  const computeEngine = root.object('google')?.object('compute_engine');
  if (computeEngine !== undefined) {
    for (const [name, member] of COMPUTE_ENGINE_CLAIMS) claims[name] = computeEngine.required(member);
  }
  return claims;
}

/** The configured allow-lists; messages name the list, never the token's value. */
function checkAllowLists(config: GcpIdentityTokenConfig, claims: Record<string, string>): void {
  const projectId = claims['gcp.projectId'];
  if (config.projectIds !== undefined) {
    if (projectId === undefined) throw refuse('projectIds is set but the token has no "google.compute_engine" claim (a VM token with format=full is needed)');
    if (!config.projectIds.includes(projectId)) throw refuse('the token\'s project is not in projectIds');
  }
  const email = claims['gcp.serviceAccountEmail']?.toLowerCase();
  if (config.serviceAccountEmails !== undefined) {
    if (email === undefined) throw refuse('serviceAccountEmails is set but the token has no "email" claim (format=full is needed)');
    if (!config.serviceAccountEmails.some((allowed) => allowed.toLowerCase() === email)) throw refuse('the token\'s service account is not in serviceAccountEmails');
  }
}

export function createGcpIdentityTokenTrustProvider(
  options: JwtTrustProviderOptions = {},
): TrustProvider<GcpIdentityTokenConfig> & { readonly configSchema: typeof gcpIdentityTokenConfigSchema } {
  const keySource = options.keySource ?? createJwtKeySource();
  return defineTrustProvider({
    specificationVersion: 'v1',
    type: GCP_IDENTITY_TOKEN_TYPE,
    evidenceType: GCP_IDENTITY_TOKEN_EVIDENCE_TYPE,
    configSchema: gcpIdentityTokenConfigSchema,
    validate: validateGcpIdentityTokenConfig,
    acceptedIssuers,
    async verify(evidence, config, ctx): Promise<VerifiedIdentity> {
      const token = readEvidenceToken(evidence, GCP_IDENTITY_TOKEN_EVIDENCE_TYPE, GCP_IDENTITY_TOKEN_TYPE);
      // Only a choice among accepted values: verifyJwt still checks the signature and `iss` exactly.
      const jwtConfig = gcpJwtConfig(config, issuerToVerify(token, acceptedIssuers(config)));
      const { payload, expiresAt } = await verifyJwt(token, jwtConfig, ctx, keySource, { provider: GCP_IDENTITY_TOKEN_TYPE });
      const claims = gcpIdentityTokenClaims(payload);
      checkAllowLists(config, claims);
      return { claims, expiresAt, subject: claims['gcp.subject'] as string };
    },
  });
}

/** The built-in instance, listed in the catalog. */
export const gcpIdentityTokenTrustProvider = /* @__PURE__ */ createGcpIdentityTokenTrustProvider();
