export {
  createGitHubActionsCollector,
  GITHUB_TOKEN_REQUEST_TOKEN_ENV,
  GITHUB_TOKEN_REQUEST_URL_ENV,
  type GitHubActionsCollectorOptions,
  githubActionsCollector,
} from './collect.js';
export {
  GITHUB_ACTIONS_ISSUER,
  type GitHubActionsConfig,
  githubActionsConfigSchema,
  githubJwtConfig,
  validateGitHubActionsConfig,
} from './config.js';
export { GITHUB_ACTIONS_EVIDENCE_TYPE, GITHUB_ACTIONS_TYPE } from './evidence.js';
export { createGitHubActionsTrustProvider, githubActionsClaims, githubActionsTrustProvider } from './verify.js';
