/**
 * Configuration of the `github-actions` trust provider. The defaults verify GitHub.com's
 * Actions OIDC tokens (issuer and keys through its discovery document); GitHub Enterprise
 * Server sets its own issuer.
 */
import { Type, type Static } from 'typebox';
import { buildJwtTrustConfig, jwtTrustConfigProperties } from '../jwt/config.js';

export const GITHUB_ACTIONS_ISSUER = 'https://token.actions.githubusercontent.com';

export const githubActionsConfigSchema = Type.Object(
  {
    issuer: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 2048,
        default: GITHUB_ACTIONS_ISSUER,
        description: 'Token issuer; GitHub Enterprise Server: https://<host>/_services/token.',
      }),
    ),
    ...jwtTrustConfigProperties,
    repositoryOwner: Type.Optional(
      Type.String({ pattern: '^[A-Za-z0-9_.-]{1,100}$', description: 'Accept only repositories of this user or organization (recommended).' }),
    ),
    repositoryOwnerId: Type.Optional(
      Type.String({ pattern: '^[0-9]{1,20}$', description: 'Accept only this owner id; unlike a name, an id is never reused.' }),
    ),
  },
  { additionalProperties: false },
);

export type GitHubActionsConfig = Static<typeof githubActionsConfigSchema>;

/** The JWT part with GitHub's defaults: its issuer, keys through discovery. */
export function githubJwtConfig(config: GitHubActionsConfig): GitHubActionsConfig & { issuer: string } {
  return { ...config, issuer: config.issuer ?? GITHUB_ACTIONS_ISSUER };
}

export function validateGitHubActionsConfig(config: GitHubActionsConfig): string[] {
  const built = buildJwtTrustConfig(githubJwtConfig(config), { defaultDiscovery: true });
  return built.ok ? [] : built.issues;
}
