import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VerifyContext } from '../../contracts.js';
import { validateConfig, validateProviderConfig } from '../../validate-config.js';
import { createJwtKeySource } from '../jwt/key-source.js';
import { describeJwtAttacks } from '../../../test/support/attack-suite.js';
import { AUDIENCE, createTestKey, expectRefused, jwksOf, NOW, NOW_SECONDS, signToken, type TestKey } from '../../../test/support/jwt-fixtures.js';
import { type LoopbackServer, sendJson, startLoopbackServer } from '../../../test/support/loopback-server.js';
import { createGitHubActionsTrustProvider, type GitHubActionsConfig, githubActionsTrustProvider } from './index.js';

/** Claims of a real GitHub Actions token (values made up), pushing to main in an environment. */
const actionsClaims = () => ({
  sub: 'repo:octo-org/octo-repo:environment:prod',
  repository: 'octo-org/octo-repo',
  repository_owner: 'octo-org',
  repository_owner_id: '9919',
  repository_id: '74',
  repository_visibility: 'private',
  ref: 'refs/heads/main',
  ref_type: 'branch',
  sha: 'example-sha-1a2b3c',
  workflow: 'deploy',
  workflow_ref: 'octo-org/octo-repo/.github/workflows/deploy.yml@refs/heads/main',
  job_workflow_ref: 'octo-org/octo-repo/.github/workflows/deploy.yml@refs/heads/main',
  environment: 'prod',
  actor: 'octocat',
  actor_id: '583231',
  event_name: 'push',
  run_id: '5821',
  run_number: '17',
  run_attempt: '1',
  runner_environment: 'github-hosted',
});

describeJwtAttacks({
  name: 'github-actions',
  provider: 'github-actions',
  claims: actionsClaims,
  createVerifier: (config, keySource) => {
    const provider = createGitHubActionsTrustProvider({ keySource });
    return (token, ctx) => provider.verify({ type: 'github-actions-token', token }, config, ctx);
  },
});

describe('github-actions trust provider', () => {
  const ctx: VerifyContext = { audience: AUDIENCE, now: () => NOW, fetch: (input, init) => fetch(input, init) };
  let key: TestKey;
  let server: LoopbackServer;
  let issuer: string;

  beforeAll(async () => {
    key = await createTestKey('gh-1', 'RS256');
    server = await startLoopbackServer((request, response) => {
      if (request.url === '/.well-known/openid-configuration') return sendJson(response, { issuer, jwks_uri: `${issuer}/.well-known/jwks` });
      if (request.url === '/.well-known/jwks') return sendJson(response, jwksOf(key));
      sendJson(response, {}, 404);
    });
    issuer = server.origin;
  });
  afterAll(() => server.close());

  const sign = (claims: Record<string, unknown> = {}) =>
    signToken({ iss: issuer, aud: AUDIENCE, iat: NOW_SECONDS, nbf: NOW_SECONDS, exp: NOW_SECONDS + 300, ...actionsClaims(), ...claims }, key);
  const verify = (token: string, config: GitHubActionsConfig = { issuer }) =>
    createGitHubActionsTrustProvider({ keySource: createJwtKeySource() }).verify({ type: 'github-actions-token', token }, config, ctx);

  it('finds the keys through discovery by default and vouches for repository, ref, workflow and run', async () => {
    await expect(verify(await sign())).resolves.toEqual({
      claims: {
        'github.repository': 'octo-org/octo-repo',
        'github.repositoryOwner': 'octo-org',
        'github.repositoryOwnerId': '9919',
        'github.repositoryId': '74',
        'github.ref': 'refs/heads/main',
        'github.refType': 'branch',
        'github.sha': 'example-sha-1a2b3c',
        'github.workflow': 'deploy',
        'github.workflowRef': 'octo-org/octo-repo/.github/workflows/deploy.yml@refs/heads/main',
        'github.jobWorkflowRef': 'octo-org/octo-repo/.github/workflows/deploy.yml@refs/heads/main',
        'github.environment': 'prod',
        'github.actor': 'octocat',
        'github.eventName': 'push',
        'github.runId': '5821',
      },
      expiresAt: new Date((NOW_SECONDS + 300) * 1000),
      subject: 'repo:octo-org/octo-repo:environment:prod',
    });
    expect(server.requests.map((r) => r.url)).toEqual(['/.well-known/openid-configuration', '/.well-known/jwks']);
  });

  it('leaves out the environment when the job has none', async () => {
    const result = await verify(await sign({ environment: undefined }));
    expect(result.claims['github.environment']).toBeUndefined();
  });

  it('refuses a token missing a claim it vouches for', async () => {
    const token = await sign({ repository: undefined });
    await expectRefused(verify(token), { code: 'evidence_invalid', message: 'trust(github-actions): missing "repository" claim', provider: 'github-actions', token });
  });

  it('restricts the repository owner, by name (case-insensitive) or by id', async () => {
    const token = await sign();
    await expect(verify(token, { issuer, repositoryOwner: 'Octo-Org' })).resolves.toBeTruthy();
    await expect(verify(token, { issuer, repositoryOwnerId: '9919' })).resolves.toBeTruthy();
    await expectRefused(verify(token, { issuer, repositoryOwner: 'other-org' }), {
      code: 'evidence_invalid',
      message: '"repository_owner" is not the configured one',
      provider: 'github-actions',
      token,
    });
    await expectRefused(verify(token, { issuer, repositoryOwnerId: '1' }), {
      code: 'evidence_invalid',
      message: '"repository_owner_id" is not the configured one',
      provider: 'github-actions',
      token,
    });
  });

  it('defaults to GitHub.com: its issuer, keys through discovery', () => {
    expect(validateConfig(githubActionsTrustProvider.configSchema, {})).toEqual({
      ok: true,
      value: { issuer: 'https://token.actions.githubusercontent.com', algorithms: ['RS256', 'ES256'], clockToleranceSeconds: 30 },
    });
    expect(validateProviderConfig(githubActionsTrustProvider, { repositoryOwner: 'octo-org' }).ok).toBe(true);
    expect(validateProviderConfig(githubActionsTrustProvider, { discovery: false })).toEqual({
      ok: false,
      errors: [{ path: '', message: 'exactly one of jwksUri, jwks or discovery: true must be set' }],
    });
    expect(validateProviderConfig(githubActionsTrustProvider, { repositoryOwner: 'octo org' }).ok).toBe(false);
  });
});
