import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig, validateProviderConfig } from '../../validate-config.js';
import { type LoopbackServer, sendHugeChunked, sendJson, startLoopbackServer } from '../../../test/support/loopback-server.js';
import { cleanUpstreamText } from '../../http/upstream-failure.js';
import { gcpWorkloadIdentityFederationProvider as provider, parseGcpWifConfig } from './index.js';
import { createRestrictedFetch, OutboundError } from './outbound.js';

const AUDIENCE = '//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/tessera-pool/providers/tessera-cloud';
const SA = 'storage-reader@acme-prod.iam.gserviceaccount.com';
const validate = (config: Record<string, unknown>) => validateProviderConfig(provider, config);
const problems = (config: Record<string, unknown>) => {
  const result = validate(config);
  return result.ok ? [] : result.errors.map((error) => `${error.path} ${error.message}`.trim());
};

describe('gcp-workload-identity-federation config', () => {
  it("fills Google's endpoints, the cloud-platform scope and a 5 s timeout", () => {
    expect(validate({ audience: AUDIENCE })).toEqual({
      ok: true,
      value: {
        audience: AUDIENCE,
        scopes: ['https://www.googleapis.com/auth/cloud-platform'],
        tokenUrl: 'https://sts.googleapis.com/v1/token',
        iamCredentialsEndpoint: 'https://iamcredentials.googleapis.com',
        timeoutMs: 5000,
      },
    });
  });

  it('builds the generateAccessToken URL from the service account and the IAM Credentials endpoint', () => {
    expect(parseGcpWifConfig({ audience: AUDIENCE, serviceAccountEmail: SA, tokenLifetimeSeconds: 900 })).toEqual({
      config: {
        audience: AUDIENCE,
        jwtAudience: AUDIENCE,
        serviceAccountEmail: SA,
        scopes: ['https://www.googleapis.com/auth/cloud-platform'],
        tokenUrl: 'https://sts.googleapis.com/v1/token',
        impersonationUrl: `https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/${SA}:generateAccessToken`,
        tokenLifetimeSeconds: 900,
        timeoutMs: 5000,
      },
    });
    const local = parseGcpWifConfig({ audience: AUDIENCE, serviceAccountEmail: SA, iamCredentialsEndpoint: 'http://127.0.0.1:8080/', jwtAudience: 'https://iam.googleapis.com/x' });
    expect(local).toMatchObject({
      config: { impersonationUrl: `http://127.0.0.1:8080/v1/projects/-/serviceAccounts/${SA}:generateAccessToken`, jwtAudience: 'https://iam.googleapis.com/x', tokenLifetimeSeconds: 3600 },
    });
  });

  it('requires the full pool provider name as audience', () => {
    for (const audience of [
      `https:${AUDIENCE}`,
      '//iam.googleapis.com/projects/acme-prod/locations/global/workloadIdentityPools/tessera-pool/providers/tessera-cloud',
      '//iam.googleapis.com/locations/global/workforcePools/pool/providers/provider',
      `${AUDIENCE}/extra`,
    ]) {
      expect(validate({ audience }).ok, audience).toBe(false);
    }
    expect(problems({})).toEqual(['/audience is required']);
  });

  it('requires https endpoints (http only on loopback) without credentials or a query', () => {
    expect(problems({ audience: AUDIENCE, tokenUrl: 'http://sts.example.com/v1/token' })).toEqual(['tokenUrl must use https (http only on a loopback host)']);
    expect(problems({ audience: AUDIENCE, iamCredentialsEndpoint: 'https://u:p@iam.example.com' })).toEqual(['iamCredentialsEndpoint must not contain credentials']);
    expect(problems({ audience: AUDIENCE, tokenUrl: 'https://sts.example.com/v1/token?x=1' })).toEqual(['tokenUrl must not contain a query']);
    expect(problems({ audience: AUDIENCE, tokenUrl: 'http://[::1]:9/v1/token' })).toEqual([]);
  });

  it('refuses a token lifetime without impersonation, bad scopes, emails and unknown fields', () => {
    expect(problems({ audience: AUDIENCE, tokenLifetimeSeconds: 600 })).toEqual(['tokenLifetimeSeconds applies only with serviceAccountEmail']);
    expect(problems({ audience: AUDIENCE, serviceAccountEmail: SA, tokenLifetimeSeconds: 60 })).toEqual(['/tokenLifetimeSeconds must be >= 300']);
    expect(problems({ audience: AUDIENCE, scopes: ['a b'] })).toHaveLength(1);
    expect(problems({ audience: AUDIENCE, scopes: [] })).toHaveLength(1);
    expect(problems({ audience: AUDIENCE, serviceAccountEmail: 'not an email' })).toHaveLength(1);
    expect(problems({ audience: AUDIENCE, subjectFormat: 'workload-name' })).toEqual(['/subjectFormat is not a known property']);
  });

  it('fails closed at run time on what the schema would refuse', () => {
    expect(parseGcpWifConfig({ audience: 'x', timeoutMs: 5, scopes: [''] } as never)).toEqual({
      issues: [
        'audience must be //iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>',
        'scopes must be a non-empty list of OAuth scopes',
        'timeoutMs must be a whole number from 100 to 60000',
      ],
    });
  });

  it('takes no secrets', () => {
    expect(validateConfig(provider.secretsSchema, {})).toEqual({ ok: true, value: {} });
    expect(validateConfig(provider.secretsSchema, { privateKey: 'k' }).ok).toBe(false);
  });
});

describe('gcp-workload-identity-federation outbound fetch', () => {
  let server: LoopbackServer;
  beforeAll(async () => {
    server = await startLoopbackServer((request, response) => {
      if (request.url === '/huge') return sendHugeChunked(response, 256 * 1024);
      if (request.url === '/moved') return void response.writeHead(302, { location: 'https://attacker.example/' }).end();
      sendJson(response, { ok: true });
    });
  });
  afterAll(() => server.close());

  it('requests only the configured URLs, through the given fetch, without following redirects', async () => {
    const seen: string[] = [];
    const restricted = createRestrictedFetch({
      fetch: (input, init) => (seen.push(String(input)), fetch(input, init)),
      allowed: [`${server.origin}/ok`, `${server.origin}/moved`],
      maxBytes: 1024,
    });
    await expect((await restricted(new URL(`${server.origin}/ok`), { method: 'POST', body: 'x' })).json()).resolves.toEqual({ ok: true });
    const refused = await restricted(`${server.origin}/other?token=secret`).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OutboundError);
    expect((refused as OutboundError).upstream).toEqual({ endpoint: `${server.origin}/other`, failure: 'refused_url' });
    expect((await restricted(`${server.origin}/moved`)).status).toBe(302);
    expect(seen).toEqual([`${server.origin}/ok`, `${server.origin}/moved`]);
  });

  it('refuses a response over the size cap', async () => {
    const restricted = createRestrictedFetch({ fetch, allowed: [`${server.origin}/huge`], maxBytes: 64 * 1024 });
    await expect(restricted(`${server.origin}/huge`)).rejects.toMatchObject({ upstream: { endpoint: `${server.origin}/huge`, status: 200, failure: 'too_large' } });
  });

  it('cleans what Google says: tokens redacted, control characters flattened, long text cut', () => {
    const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
    expect(cleanUpstreamText(`bad ${jwt}\n(ya29.abc-DEF_123)`, [])).toBe('bad [redacted] ([redacted])');
    expect(cleanUpstreamText('secret-value here', ['secret-value'])).toBe('[redacted] here');
    expect(cleanUpstreamText('x'.repeat(300), [])).toHaveLength(200);
    expect(cleanUpstreamText('iamcredentials.googleapis.com refused storage-reader@acme-prod.iam.gserviceaccount.com', [])).toBe(
      'iamcredentials.googleapis.com refused storage-reader@acme-prod.iam.gserviceaccount.com',
    );
  });
});
