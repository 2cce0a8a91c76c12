import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { expectRefused } from '../../../test/support/jwt-fixtures.js';
import { type LoopbackServer, sendJson, startLoopbackServer } from '../../../test/support/loopback-server.js';
import { createGitHubActionsCollector } from './index.js';

const REQUEST_TOKEN = 'ghs_request-token-that-must-never-leak-5f2e';
const ID_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvIn0.c2lnbmF0dXJl';
const ctx = { audience: 'https://tessera.example.com' };

describe('github-actions collector', () => {
  let server: LoopbackServer;
  let reply: { status: number; body: unknown };
  let env: Record<string, string | undefined>;

  beforeAll(async () => {
    server = await startLoopbackServer((request, response) => {
      if (request.headers.authorization !== `bearer ${REQUEST_TOKEN}`) return sendJson(response, { message: 'Bad credentials' }, 401);
      if (reply.status === 200) return sendJson(response, reply.body);
      // A hostile or buggy endpoint echoing the credential must not get it into our errors.
      sendJson(response, { message: `denied for ${REQUEST_TOKEN}` }, reply.status);
    });
  });
  afterAll(() => server.close());
  beforeEach(() => {
    reply = { status: 200, body: { value: ID_TOKEN } };
    server.requests.length = 0;
    env = {
      ACTIONS_ID_TOKEN_REQUEST_URL: `${server.origin}/_apis/idtoken?api-version=2.0`,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: REQUEST_TOKEN,
    };
  });

  it('detects a job with id-token: write by its two variables', async () => {
    expect(await createGitHubActionsCollector({ env }).detect()).toBe(true);
    expect(await createGitHubActionsCollector({ env: { ACTIONS_ID_TOKEN_REQUEST_URL: 'https://x' } }).detect()).toBe(false);
    expect(await createGitHubActionsCollector({ env: {} }).detect()).toBe(false);
  });

  it('requests a token for the cloud audience with the bearer request token', async () => {
    const collector = createGitHubActionsCollector({ env });
    expect(collector).toMatchObject({ type: 'github-actions', evidenceType: 'github-actions-token' });
    await expect(collector.collect(ctx)).resolves.toEqual({ type: 'github-actions-token', token: ID_TOKEN });
    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request).toMatchObject({ method: 'GET', url: '/_apis/idtoken?api-version=2.0&audience=https%3A%2F%2Ftessera.example.com' });
    expect(request?.headers.authorization).toBe(`bearer ${REQUEST_TOKEN}`);
  });

  it('reports a refused request by status, without the request token or the response body', async () => {
    reply = { status: 403, body: null };
    const error = await expectRefused(createGitHubActionsCollector({ env }).collect(ctx), {
      code: 'trust_provider_error',
      message: 'GitHub Actions ID token request to',
      provider: 'github-actions',
    });
    expect(error.message).toContain('failed: HTTP 403');
    expect(error.message).not.toContain(REQUEST_TOKEN);
    expect(error.message).not.toContain('api-version');
    expect(JSON.stringify(error)).not.toContain(REQUEST_TOKEN);
    expect(String(error.stack)).not.toContain(REQUEST_TOKEN);
    expect(error.cause).toBeUndefined();
  });

  it('refuses a response without a usable value', async () => {
    for (const body of [{}, { value: '' }, { value: 42 }, { value: 'x'.repeat(17 * 1024) }]) {
      reply = { status: 200, body };
      await expectRefused(createGitHubActionsCollector({ env }).collect(ctx), {
        code: 'evidence_invalid',
        message: 'response has no usable "value"',
        provider: 'github-actions',
      });
    }
  });

  it('fails clearly when the endpoint is unreachable, without the request token', async () => {
    const unreachable = { ...env, ACTIONS_ID_TOKEN_REQUEST_URL: 'http://127.0.0.1:1/_apis/idtoken?api-version=2.0' };
    const error = await expectRefused(createGitHubActionsCollector({ env: unreachable }).collect(ctx), {
      code: 'trust_provider_error',
      message: 'failed: network error',
      provider: 'github-actions',
    });
    expect(error.message).not.toContain(REQUEST_TOKEN);
  });

  it('never sends the request token over plain http off loopback, nor without the variables', async () => {
    const requests: string[] = [];
    const spy: typeof fetch = async (input) => (requests.push(String(input)), new Response('{}'));
    const insecure = { ...env, ACTIONS_ID_TOKEN_REQUEST_URL: 'http://runner.example.test/_apis/idtoken?api-version=2.0' };
    await expectRefused(createGitHubActionsCollector({ env: insecure, fetch: spy }).collect(ctx), {
      code: 'invalid_config',
      message: 'ACTIONS_ID_TOKEN_REQUEST_URL must use https',
      provider: 'github-actions',
    });
    await expectRefused(createGitHubActionsCollector({ env: {}, fetch: spy }).collect(ctx), {
      code: 'invalid_config',
      message: 'are not set (does the job have id-token: write?)',
      provider: 'github-actions',
    });
    expect(requests).toEqual([]);
  });
});
