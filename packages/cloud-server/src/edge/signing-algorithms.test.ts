import { randomBytes } from 'node:crypto';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { Type } from 'typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProviderRegistry, defineCredentialProvider, type SignJwtOptions } from '@tessera/providers';
import { buildApp } from '../app.js';
import { bootstrap } from '../bootstrap.js';
import { SecretBox, verifyMasterKey } from '../crypto/secret-box.js';
import { KeyRing } from '../keys/key-ring.js';
import { MemorySigningKeyStore } from '../keys/memory-store.test-helper.js';
import { typedSchemaLookup } from '../objects/registry-schemas.js';
import { ObjectService } from '../objects/service.js';
import { BACKENDS, type BackendHarness } from '../../test/support/store-backends.js';
import { fixtureTrustProvider } from '../../test/support/app-harness.js';
import { EdgeTestClient, type Send } from '../../test/support/edge-client.js';
import { Challenges, NONCE_LIFETIME_SECONDS, NONCE_TYPE } from './challenge.js';
import { EDGE_TOKEN_TYPE, EdgeTokens } from './edge-token.js';

/**
 * The key ring signs with ES256 by default and with RS256 when a credential provider asks (for
 * Entra ID). Edge tokens and nonces stay ES256: an RS256 key in the same JWKS, and a token the
 * control plane itself signed with it, must never pass as either.
 */

const ISSUER = 'https://tessera.test';

describe('edge tokens and nonces pin ES256', () => {
  const session = { clientWorkloadId: 'cw-1', resourceSetId: 'rs-1', trustProviderIds: ['tp-1'], claims: { 'fixture.subject': 'svc-a' }, jkt: 'thumbprint-1' };

  function setup() {
    const keyRing = new KeyRing({ store: new MemorySigningKeyStore(), box: new SecretBox(randomBytes(32)) });
    return { keyRing, tokens: new EdgeTokens(keyRing, () => ISSUER), challenges: new Challenges(keyRing, () => ISSUER) };
  }

  it('refuses an RS256 edge token signed by the key ring, with every claim right', async () => {
    const { keyRing, tokens } = setup();
    const { token } = await tokens.issue(session, undefined);
    expect(decodeProtectedHeader(token).alg).toBe('ES256');
    await expect(tokens.verify(token)).resolves.toMatchObject({ clientWorkloadId: 'cw-1', jkt: 'thumbprint-1' });

    const forged = await keyRing.sign(
      { rs: session.resourceSetId, tp: session.trustProviderIds, claims: session.claims, cnf: { jkt: session.jkt } },
      { issuer: ISSUER, audience: tokens.audience(), subject: session.clientWorkloadId, lifetimeSeconds: 300, typ: EDGE_TOKEN_TYPE, algorithm: 'RS256' },
    );
    const header = decodeProtectedHeader(forged);
    expect(header).toMatchObject({ alg: 'RS256', typ: EDGE_TOKEN_TYPE });
    // The RS256 key is genuinely published next to the ES256 one ...
    expect((await keyRing.jwks()).keys.map((key) => [key.alg, key.kid])).toContainEqual(['RS256', header.kid]);
    expect(await keyRing.getPublicKey(header.kid!)).toBeDefined();
    // ... and the token verifies with jose when RS256 is allowed, but never as an edge token.
    await expect(jwtVerify(forged, createLocalJWKSet(await keyRing.jwks()), { algorithms: ['RS256'] })).resolves.toBeDefined();
    await expect(tokens.verify(forged)).rejects.toMatchObject({ code: 'invalid_edge_token' });
  });

  it('refuses an RS256 nonce signed by the key ring', async () => {
    const { keyRing, challenges } = setup();
    const forged = await keyRing.sign(
      {},
      { issuer: ISSUER, audience: `${ISSUER}/edge/v1/attest`, subject: 'thumbprint-1', lifetimeSeconds: NONCE_LIFETIME_SECONDS, typ: NONCE_TYPE, algorithm: 'RS256' },
    );
    expect(decodeProtectedHeader(forged).alg).toBe('RS256');
    expect(await challenges.consume(forged, 'thumbprint-1')).toBe(false);
    const { nonce } = await challenges.issue('thumbprint-1');
    expect(decodeProtectedHeader(nonce).alg).toBe('ES256');
    expect(await challenges.consume(nonce, 'thumbprint-1')).toBe(true);
  });
});

/** A provider like the Entra one: asks the cloud's signer for RS256 and hands the JWT over. */
const rs256Provider = defineCredentialProvider({
  specificationVersion: 'v1',
  type: 'fixture-rs256-assertion',
  configSchema: Type.Object({}, { additionalProperties: false }),
  secretsSchema: Type.Object({}, { additionalProperties: false }),
  async issue(request, _config, _secrets, ctx) {
    const options: SignJwtOptions = { audience: 'api://AzureADTokenExchange', subject: request.clientWorkload.id, lifetimeSeconds: 300, algorithm: 'RS256' };
    return { kind: 'token', token: await ctx.signJwt!({}, options), expiresAt: new Date(ctx.now().getTime() + 300_000) };
  },
});

describe.each(BACKENDS)('signing algorithms on the edge credential path ($name)', (backend) => {
  let harness: BackendHarness;
  let app: Awaited<ReturnType<typeof buildApp>>['app'];
  let keyRing: KeyRing;
  let send: Send;
  let call: (method: string, url: string) => Promise<{ status: number; body: any }>;

  beforeAll(async () => {
    harness = await backend.createHarness();
    const store = harness.createStore();
    await store.migrate();
    const box = new SecretBox(randomBytes(32));
    await verifyMasterKey(store, box);
    const registry = createProviderRegistry(); // with the built-in workload-jwt
    registry.registerTrustProvider(fixtureTrustProvider);
    registry.registerCredentialProvider(rs256Provider);
    keyRing = new KeyRing({ store, box });
    await keyRing.ensureActiveKey();
    const service = new ObjectService({ store, box, schemas: typedSchemaLookup(registry) });
    const rootKey = (await bootstrap(store, service, undefined)).generatedKey!;
    ({ app } = await buildApp({ store, box, keyRing, registry, publicUrl: ISSUER }));
    send = async (method, path, headers, body) => {
      const response = await app.inject({ method: method as 'POST', url: path, headers, payload: body as object });
      return { status: response.statusCode, body: response.body ? JSON.parse(response.body) : undefined };
    };
    call = async (method, url) => {
      const response = await app.inject({ method: method as 'GET', url, headers: { authorization: `Bearer ${rootKey}` } });
      return { status: response.statusCode, body: JSON.parse(response.body) };
    };
    const create = async (plural: string, body: Record<string, unknown>) => {
      const response = await app.inject({ method: 'POST', url: `/api/v1/${plural}`, headers: { authorization: `Bearer ${rootKey}` }, payload: body });
      if (response.statusCode !== 201) throw new Error(`POST ${plural} answered ${response.statusCode}: ${response.body}`);
      return JSON.parse(response.body) as { id: string };
    };
    const client = await create('client-workloads', { name: 'payments', identities: [{ claim: 'fixture.subject', value: 'svc-a' }] });
    const trust = await create('trust-providers', { name: 'fixture', type: 'fixture-static', config: { subjects: ['svc-a'] } });
    const injection = { kind: 'header', name: 'authorization' };
    const azure = await create('server-workloads', { name: 'azure', host: 'azure.example.com', port: 443, scheme: 'https', injection });
    const internal = await create('server-workloads', { name: 'internal', host: 'internal.example.com', port: 443, scheme: 'https', injection });
    const rsa = await create('credential-providers', { name: 'rsa', type: 'fixture-rs256-assertion' });
    const jwt = await create('credential-providers', { name: 'jwt', type: 'workload-jwt', config: { audience: 'https://internal.example.com' } });
    const policy = (name: string, serverWorkloadId: string, credentialProviderId: string) =>
      create('access-policies', { name, clientWorkloadIds: [client.id], serverWorkloadId, trustProviderIds: [trust.id], credentialProviderId });
    await policy('azure', azure.id, rsa.id);
    await policy('internal', internal.id, jwt.id);
  });
  afterAll(async () => {
    await app?.close();
    await harness?.dispose();
  });

  async function credential(host: string): Promise<{ token: string; sdk: EdgeTestClient }> {
    const sdk = await EdgeTestClient.create(ISSUER, send);
    expect((await sdk.attest({ type: 'fixture', subject: 'svc-a' })).status).toBe(200);
    const issued = await sdk.credentials({ scheme: 'https', host, port: 443, path: '/' });
    expect(issued.status, JSON.stringify(issued.body)).toBe(200);
    return { token: issued.body.credential.token, sdk };
  }

  async function publishedJwks() {
    const jwks = await send('GET', '/.well-known/jwks.json', {}, undefined);
    expect(jwks.status).toBe(200);
    return jwks.body;
  }

  it('signs a workload JWT with RS256 when the provider asks, verifiable against the published JWKS', async () => {
    const { token } = await credential('azure.example.com');
    const header = decodeProtectedHeader(token);
    expect(header).toMatchObject({ alg: 'RS256', typ: 'JWT' });
    const jwks = await publishedJwks();
    expect(jwks.keys.find((key: { kid: string }) => key.kid === header.kid)).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig' });
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { algorithms: ['RS256'], issuer: ISSUER, audience: 'api://AzureADTokenExchange' });
    expect(payload.sub).toMatch(/^[0-9a-f-]{36}$/);

    const listed = await call('GET', '/api/v1/signing-keys');
    expect(listed.body.items.map((key: { alg: string; status: string }) => [key.alg, key.status]).sort()).toEqual([
      ['ES256', 'active'],
      ['RS256', 'active'],
    ]);
    const discovery = await send('GET', '/.well-known/openid-configuration', {}, undefined);
    expect(discovery.body.id_token_signing_alg_values_supported).toEqual(['ES256', 'RS256']);
  });

  it('keeps workload-jwt tokens ES256 while an RS256 key exists', async () => {
    await credential('azure.example.com'); // the RS256 key exists
    const { token } = await credential('internal.example.com');
    const header = decodeProtectedHeader(token);
    expect(header).toMatchObject({ alg: 'ES256', typ: 'JWT', kid: await keyRing.ensureActiveKey() });
    const { payload } = await jwtVerify(token, createLocalJWKSet(await publishedJwks()), { algorithms: ['ES256'], issuer: ISSUER, audience: 'https://internal.example.com' });
    expect(payload).toMatchObject({ client_workload: 'payments', server_workload: 'internal' });
  });

  it('refuses an RS256-signed edge token at the edge API, however right its claims', async () => {
    const { sdk } = await credential('internal.example.com');
    const genuine = sdk.edgeToken!;
    expect(decodeProtectedHeader(genuine).alg).toBe('ES256');
    const { rs, tp, claims, cnf, sub } = decodeJwt(genuine);
    const forged = await keyRing.sign(
      { rs, tp, claims, cnf },
      { issuer: ISSUER, audience: `${ISSUER}/edge/v1`, subject: sub!, lifetimeSeconds: 300, typ: EDGE_TOKEN_TYPE, algorithm: 'RS256' },
    );
    expect(decodeProtectedHeader(forged).alg).toBe('RS256');
    const refused = await sdk.credentials({ scheme: 'https', host: 'internal.example.com', port: 443, path: '/' }, { token: forged });
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe('invalid_edge_token');
    expect((await sdk.credentials({ scheme: 'https', host: 'internal.example.com', port: 443, path: '/' }, { token: genuine })).status).toBe(200);
  });
});
