import fc from 'fast-check';
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../../test/support/store-backends.js';
import { create, createTestApp, type TestApp } from '../../test/support/app-harness.js';
import { EdgeTestClient, injectSend, type Send } from '../../test/support/edge-client.js';
import { LEAK_PATTERNS, documentedErrorCodes } from '../../test/support/error-answers.js';

/**
 * Property-based fuzzing of the edge API past its front door: bodies that pass the schemas, with
 * a valid DPoP proof (and edge token), reach the trust providers, the decision and the metrics
 * ingest. Evidence of every built-in type, and JWT-shaped tokens whose header and claims are
 * random (issuers the set knows among them), must be refused with a documented code; random
 * targets, metrics reports and events likewise. Never a 5xx but the documented ones (a key
 * endpoint that cannot be reached is `502 trust_provider_error`), never a stack trace.
 */

const ISSUER = 'https://tessera.test';
/** A loopback port nothing listens on: key fetches fail at once. */
const CLOSED = 'http://127.0.0.1:9/keys';
const KNOWN_ISSUERS = ['https://idp.example.com', 'https://kubernetes.default.svc', 'https://token.actions.githubusercontent.com', 'https://accounts.google.com'];
/** 5xx answers the edge API documents, by status. */
const DOCUMENTED_5XX: Record<number, string> = { 502: 'trust_provider_error', 503: 'replay_cache_full' };

const base64url = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A token that looks like a JWT: random header and claims, a signature of random bytes. */
const jwtShaped = fc
  .tuple(
    fc.record(
      {
        alg: fc.oneof(fc.constantFrom('ES256', 'RS256', 'PS256', 'EdDSA', 'none', 'HS256'), fc.string()),
        kid: fc.oneof(fc.constantFrom('idp-1'), fc.string()),
        typ: fc.constantFrom('JWT', 'at+jwt', 'dpop+jwt'),
        jku: fc.webUrl(),
        crit: fc.array(fc.string()),
      },
      { requiredKeys: ['alg'] },
    ),
    fc.record(
      {
        iss: fc.oneof(fc.constantFrom(...KNOWN_ISSUERS), fc.string(), fc.integer()),
        sub: fc.oneof(fc.string(), fc.jsonValue()),
        aud: fc.oneof(fc.constant(ISSUER), fc.array(fc.constant(ISSUER)), fc.jsonValue()),
        exp: fc.oneof(fc.integer(), fc.double(), fc.constant(1e308), fc.string()),
        iat: fc.oneof(fc.integer(), fc.string()),
        nbf: fc.integer(),
        repository: fc.string(),
        'kubernetes.io': fc.jsonValue(),
      },
      { requiredKeys: [] },
    ),
    fc.uint8Array({ maxLength: 300 }),
  )
  .map(([header, payload, signature]) => `${base64url(header)}.${base64url(payload)}.${Buffer.from(signature).toString('base64url')}`);

const evidence = fc.record(
  {
    type: fc.oneof(
      fc.constantFrom('jwt', 'kubernetes-token', 'github-actions-token', 'gcp-identity-token', 'azure-managed-identity', 'aws-iam', 'aws-ec2-instance-identity', 'fixture'),
      fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
    ),
    token: fc.oneof(jwtShaped, fc.string(), fc.jsonValue()),
    subject: fc.oneof(fc.constant('a'), fc.string()),
    nonce: fc.oneof(fc.string(), fc.jsonValue()),
    method: fc.constantFrom('POST', 'GET', 'post'),
    url: fc.oneof(fc.webUrl(), fc.string()),
    headers: fc.oneof(fc.dictionary(fc.string(), fc.string()), fc.jsonValue()),
    body: fc.oneof(fc.string(), fc.jsonValue()),
    document: fc.oneof(fc.string(), fc.jsonValue()),
    signature: fc.oneof(fc.string(), fc.base64String()),
    pkcs7: fc.oneof(fc.string(), fc.base64String()),
  },
  { requiredKeys: ['type'] },
);

const target = fc.record(
  {
    scheme: fc.constantFrom('https', 'http'),
    host: fc.oneof(fc.domain(), fc.stringMatching(/^[A-Za-z0-9.:_[\]-]{1,253}$/), fc.constantFrom('api.example.com', '*.example.com', '[::1]', '127.0.0.1')),
    port: fc.integer({ min: 1, max: 65535 }),
    path: fc.stringMatching(/^[^\u0000-\u0020\u007F]{0,100}$/),
  },
  { requiredKeys: ['scheme', 'host', 'port'] },
);

describe.each(BACKENDS.slice(0, 1))('fuzzing the edge API with valid proofs ($name)', (backend) => {
  let t: TestApp;
  let send: Send;
  let sdk: EdgeTestClient;
  const codes = documentedErrorCodes();

  beforeAll(async () => {
    t = await createTestApp(backend);
    // Every answer must be JSON: injectSend parses it.
    send = injectSend(t.app);
    const { publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'idp-1', alg: 'ES256', use: 'sig' }] };
    // One trust provider of every built-in type that needs no certificate, each for an issuer above.
    await create(t, 'trust-providers', { name: 'oidc', type: 'oidc', config: { issuer: KNOWN_ISSUERS[0], jwks } });
    await create(t, 'trust-providers', { name: 'k8s', type: 'kubernetes-service-account', config: { issuer: KNOWN_ISSUERS[1], jwks } });
    await create(t, 'trust-providers', { name: 'gha', type: 'github-actions', config: { jwks, repositoryOwner: 'acme' } });
    await create(t, 'trust-providers', { name: 'gcp', type: 'gcp-identity-token', config: { jwksUri: CLOSED } });
    await create(t, 'trust-providers', { name: 'azure', type: 'azure-managed-identity', config: { tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47', audience: ISSUER, jwksUri: CLOSED } });
    await create(t, 'trust-providers', { name: 'aws', type: 'aws-iam', config: { stsEndpoint: CLOSED.replace('/keys', '/'), region: 'us-east-1' } });
    const fixture = await create(t, 'trust-providers', { name: 'fixture', type: 'fixture-static', config: { subjects: ['a'] } });
    const client = await create(t, 'client-workloads', { name: 'app', identities: [{ claim: 'fixture.subject', value: 'a' }] });
    const server = await create(t, 'server-workloads', { name: 'api', host: 'api.example.com', port: 443, scheme: 'https', injection: { kind: 'header', name: 'authorization' } });
    const minted = await create(t, 'credential-providers', { name: 'mint', type: 'workload-jwt', config: { audience: 'https://api.example.com' } });
    await create(t, 'access-policies', { name: 'p', clientWorkloadIds: [client.id], serverWorkloadId: server.id, trustProviderIds: [fixture.id], credentialProviderId: minted.id });
    sdk = await EdgeTestClient.create(ISSUER, send);
    const attested = await sdk.attest({ type: 'fixture', subject: 'a' });
    expect(attested.status, JSON.stringify(attested.body)).toBe(200);
  });
  afterAll(async () => {
    await t?.close();
  });

  function expectSane(response: { status: number; body: unknown }, label: string): void {
    const raw = JSON.stringify(response.body ?? null);
    for (const leak of LEAK_PATTERNS) expect(raw, label).not.toMatch(leak);
    if (response.status >= 500) expect(DOCUMENTED_5XX[response.status], `${label}: ${response.status} ${raw.slice(0, 300)}`).toBe((response.body as { code?: string }).code);
    if (response.status >= 400) {
      const body = response.body as Record<string, unknown>;
      expect(codes, `${label}: undocumented code ${body.code}`).toContain(body.code);
      expect(Object.keys(body).filter((field) => !['code', 'message', 'details'].includes(field)), label).toEqual([]);
    }
  }

  it('refuses random evidence of every type with a documented code', async () => {
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(evidence, async (value) => {
        const client = await EdgeTestClient.create(ISSUER, send);
        const response = await client.attest(value as Record<string, unknown>);
        expectSane(response, JSON.stringify(value).slice(0, 300));
        seen.add(response.status === 200 ? 'ok' : response.body.code);
        // Only the fixture's own subject may attest.
        if (response.status === 200) expect(value).toMatchObject({ type: 'fixture', subject: 'a' });
      }),
      { numRuns: 200, seed: 23 },
    );
    // The runs reached the trust providers, not only the schema.
    expect([...seen].sort()).toEqual(expect.arrayContaining(['evidence_invalid', 'unsupported_evidence']));
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('answers random targets with a credential or a documented refusal', async () => {
    await fc.assert(
      fc.asyncProperty(target, async (value) => {
        const response = await sdk.credentials(value);
        expectSane(response, JSON.stringify(value));
        if (response.status === 200) expect(value.host.toLowerCase()).toBe('api.example.com');
      }),
      { numRuns: 100, seed: 29 },
    );
  });

  it('answers random metrics reports and events with success or a documented refusal', async () => {
    const series = fc.record({
      serverWorkloadId: fc.uuid(),
      target: fc.record({ scheme: fc.constantFrom('https', 'http'), host: fc.stringMatching(/^(\*\.)?[A-Za-z0-9.:_[\]-]{1,60}$/), port: fc.integer({ min: 1, max: 65535 }) }),
      outcome: fc.constantFrom('allow', 'deny', 'error'),
      statusClass: fc.constantFrom('1xx', '2xx', '3xx', '4xx', '5xx', null),
      reason: fc.stringMatching(/^[a-z_]{1,64}$/),
      requests: fc.integer({ min: 1, max: 1_000_000_000_000 }),
      latencyMsSum: fc.oneof(fc.double({ min: 0, noNaN: true, noDefaultInfinity: true }), fc.constant(1e308)),
      latencyBuckets: fc.array(fc.integer({ min: 0, max: 1_000_000_000_000 }), { minLength: 14, maxLength: 14 }),
    }, { requiredKeys: ['target', 'outcome', 'statusClass', 'requests', 'latencyMsSum', 'latencyBuckets'] });
    await fc.assert(
      fc.asyncProperty(fc.uuid(), fc.array(series, { minLength: 1, maxLength: 5 }), async (reportId, list) => {
        const response = await sdk.metrics({ reportId, series: list });
        expectSane(response, JSON.stringify(list).slice(0, 300));
      }),
      { numRuns: 60, seed: 31 },
    );
    const event = fc.record({
      time: fc.date({ min: new Date('1970-01-01'), max: new Date('9999-12-31'), noInvalidDate: true }).map((d) => d.toISOString()),
      target,
      outcome: fc.constantFrom('allow', 'deny', 'error'),
      statusClass: fc.constantFrom('1xx', '2xx', '3xx', '4xx', '5xx', null),
      latencyMs: fc.double({ min: 0, max: 3_600_000, noNaN: true }),
      reason: fc.stringMatching(/^[a-z_]{1,64}$/),
    }, { requiredKeys: ['time', 'target', 'outcome', 'statusClass', 'latencyMs'] });
    await fc.assert(
      fc.asyncProperty(fc.array(event, { minLength: 1, maxLength: 5 }), async (events) => {
        const response = await sdk.events(events);
        expectSane(response, JSON.stringify(events).slice(0, 300));
      }),
      { numRuns: 60, seed: 37 },
    );
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});
