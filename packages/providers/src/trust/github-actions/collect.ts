/**
 * Collector half of `github-actions`: asks the runner's token service for an OIDC token
 * whose audience is this cloud. The job needs `permissions: id-token: write`, which makes
 * the runner set ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN.
 *
 * The request token is a bearer credential of the job: it goes only in the Authorization
 * header, only over https (or loopback, for tests), and never into an error message.
 */
import { type EvidenceCollector, defineEvidenceCollector } from '../../collector-contract.js';
import { TrustError } from '../../errors.js';
import { fetchBounded, KeySourceError, parseJsonObject } from '../../http/bounded-fetch.js';
import { checkFetchUrl } from '../../http/endpoint-url.js';
import { MAX_JWT_EVIDENCE_BYTES } from '../jwt/evidence.js';
import { GITHUB_ACTIONS_EVIDENCE_TYPE, GITHUB_ACTIONS_TYPE } from './evidence.js';

export const GITHUB_TOKEN_REQUEST_URL_ENV = 'ACTIONS_ID_TOKEN_REQUEST_URL';
export const GITHUB_TOKEN_REQUEST_TOKEN_ENV = 'ACTIONS_ID_TOKEN_REQUEST_TOKEN';

export interface GitHubActionsCollectorOptions {
  /** Environment to read the runner's variables from (default `process.env`). */
  env?: Record<string, string | undefined>;
  /** Fetch for the token request (default the global fetch). */
  fetch?: typeof fetch;
  /** Timeout of the token request, default 10000 ms. */
  timeoutMs?: number;
}

const WHAT = 'GitHub Actions ID token';

function fail(code: 'trust_provider_error' | 'evidence_invalid' | 'invalid_config', message: string): TrustError {
  return new TrustError(code, message, { provider: GITHUB_ACTIONS_TYPE });
}

export function createGitHubActionsCollector(options: GitHubActionsCollectorOptions = {}): EvidenceCollector {
  const variables = () => {
    const env = options.env ?? process.env;
    return { url: env[GITHUB_TOKEN_REQUEST_URL_ENV] || undefined, token: env[GITHUB_TOKEN_REQUEST_TOKEN_ENV] || undefined };
  };
  return defineEvidenceCollector({
    specificationVersion: 'v1',
    type: GITHUB_ACTIONS_TYPE,
    evidenceType: GITHUB_ACTIONS_EVIDENCE_TYPE,
    async detect() {
      const { url, token } = variables();
      return url !== undefined && token !== undefined;
    },
    async collect(ctx) {
      const { url, token } = variables();
      if (url === undefined || token === undefined) {
        throw fail('invalid_config', `${GITHUB_TOKEN_REQUEST_URL_ENV} and ${GITHUB_TOKEN_REQUEST_TOKEN_ENV} are not set (does the job have id-token: write?)`);
      }
      const issue = checkFetchUrl(url, GITHUB_TOKEN_REQUEST_URL_ENV);
      if (issue !== undefined) throw fail('invalid_config', issue);
      if (ctx.audience.length === 0) throw fail('invalid_config', 'no audience to request the token for');
      const timeout = AbortSignal.timeout(options.timeoutMs ?? 10_000);
      const signal = ctx.signal === undefined ? timeout : AbortSignal.any([timeout, ctx.signal]);
      // The runner's URL already has a query (api-version); the audience is appended, as actions/toolkit does.
      const target = `${url}${url.includes('?') ? '&' : '?'}audience=${encodeURIComponent(ctx.audience)}`;
      let body: Record<string, unknown>;
      try {
        const bytes = await fetchBounded(target, { authorization: `bearer ${token}`, accept: 'application/json' }, {
          fetch: options.fetch ?? fetch,
          what: WHAT,
          maxBytes: 64 * 1024,
          signal,
        });
        body = parseJsonObject(bytes, WHAT);
      } catch (error) {
        if (error instanceof KeySourceError) throw fail('trust_provider_error', error.message);
        throw fail('trust_provider_error', `${WHAT} request failed`);
      }
      const value = body.value;
      if (typeof value !== 'string' || value.length === 0 || value.length > MAX_JWT_EVIDENCE_BYTES) {
        throw fail('evidence_invalid', `${WHAT} response has no usable "value"`);
      }
      return { type: GITHUB_ACTIONS_EVIDENCE_TYPE, token: value };
    },
  });
}

/** The built-in instance: active inside a GitHub Actions job with id-token: write. */
export const githubActionsCollector = /* @__PURE__ */ createGitHubActionsCollector();
