/**
 * `github-actions` trust provider: verifies a GitHub Actions OIDC token requested with this
 * cloud as audience, and vouches for the repository, ref, workflow and run it came from.
 *
 * Warning: without `repositoryOwner` (or `repositoryOwnerId`) every repository on GitHub can
 * obtain a valid token; only the client workloads' claim matching then stands between them
 * and your credentials. Set the owner.
 */
import type { JWTPayload } from 'jose';
import type { TrustProvider, VerifiedIdentity } from '../../contracts.js';
import { defineTrustProvider } from '../../define.js';
import { TrustError } from '../../errors.js';
import { ClaimReader, readEvidenceToken } from '../jwt/claims.js';
import { createJwtKeySource, type JwtTrustProviderOptions } from '../jwt/key-source.js';
import { verifyJwt } from '../jwt/verify-jwt.js';
import {
  type GitHubActionsConfig,
  githubActionsConfigSchema,
  githubJwtConfig,
  validateGitHubActionsConfig,
} from './config.js';
import { GITHUB_ACTIONS_EVIDENCE_TYPE, GITHUB_ACTIONS_TYPE } from './evidence.js';

/** Tessera claim ← token claim; all required but those marked optional. */
const CLAIM_MAP: ReadonlyArray<readonly [string, string, 'optional'?]> = [
  ['github.repository', 'repository'],
  ['github.repositoryOwner', 'repository_owner'],
  ['github.repositoryOwnerId', 'repository_owner_id', 'optional'],
  ['github.repositoryId', 'repository_id'],
  ['github.ref', 'ref'],
  ['github.refType', 'ref_type'],
  ['github.sha', 'sha'],
  ['github.workflow', 'workflow'],
  ['github.workflowRef', 'workflow_ref'],
  ['github.jobWorkflowRef', 'job_workflow_ref'],
  ['github.environment', 'environment', 'optional'],
  ['github.actor', 'actor'],
  ['github.eventName', 'event_name'],
  ['github.runId', 'run_id'],
];

/** Maps a verified GitHub Actions token payload to claims; throws when one is missing. */
export function githubActionsClaims(payload: JWTPayload): Record<string, string> {
  const reader = new ClaimReader(payload, GITHUB_ACTIONS_TYPE);
  const claims: Record<string, string> = {};
  for (const [name, claim, optional] of CLAIM_MAP) {
    const value = optional === undefined ? reader.required(claim) : reader.optional(claim);
    if (value !== undefined) claims[name] = value;
  }
  return claims;
}

/** GitHub owner names are case-insensitive; ids are compared exactly. */
function checkOwner(config: GitHubActionsConfig, claims: Record<string, string>): void {
  const refuse = (claim: string) =>
    new TrustError('evidence_invalid', `"${claim}" is not the configured one`, { provider: GITHUB_ACTIONS_TYPE });
  if (config.repositoryOwner !== undefined && claims['github.repositoryOwner']?.toLowerCase() !== config.repositoryOwner.toLowerCase()) {
    throw refuse('repository_owner');
  }
  if (config.repositoryOwnerId !== undefined && claims['github.repositoryOwnerId'] !== config.repositoryOwnerId) {
    throw refuse('repository_owner_id');
  }
}

export function createGitHubActionsTrustProvider(
  options: JwtTrustProviderOptions = {},
): TrustProvider<GitHubActionsConfig> & { readonly configSchema: typeof githubActionsConfigSchema } {
  const keySource = options.keySource ?? createJwtKeySource();
  return defineTrustProvider({
    specificationVersion: 'v1',
    type: GITHUB_ACTIONS_TYPE,
    evidenceType: GITHUB_ACTIONS_EVIDENCE_TYPE,
    configSchema: githubActionsConfigSchema,
    validate: validateGitHubActionsConfig,
    acceptedIssuers: (config) => [githubJwtConfig(config).issuer],
    async verify(evidence, config, ctx): Promise<VerifiedIdentity> {
      const token = readEvidenceToken(evidence, GITHUB_ACTIONS_EVIDENCE_TYPE, GITHUB_ACTIONS_TYPE);
      const { payload, expiresAt } = await verifyJwt(token, githubJwtConfig(config), ctx, keySource, {
        provider: GITHUB_ACTIONS_TYPE,
        defaultDiscovery: true,
      });
      const claims = githubActionsClaims(payload);
      checkOwner(config, claims);
      const subject = typeof payload.sub === 'string' ? payload.sub : undefined;
      return { claims, expiresAt, ...(subject === undefined ? {} : { subject }) };
    },
  });
}

/** The built-in instance, listed in the catalog. */
export const githubActionsTrustProvider = /* @__PURE__ */ createGitHubActionsTrustProvider();
