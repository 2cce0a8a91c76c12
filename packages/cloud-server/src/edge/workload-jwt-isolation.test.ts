import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../../test/support/store-backends.js';
import { create, createTestApp, type TestApp } from '../../test/support/app-harness.js';
import { EdgeTestClient, injectSend, type Send } from '../../test/support/edge-client.js';
import { EDGE_TOKEN_TYPE } from './edge-token.js';

/**
 * Tokens Tessera signs say which resource set they are for. Two sets hold a client workload of the
 * same name with the same workload-jwt provider; their JWTs must differ in an unforgeable
 * `resource_set` claim and in `sub`, and an edge token of one set opens nothing of the other.
 */

const ISSUER = 'https://tessera.test';
const AUDIENCE = 'https://ledger.example.com';

describe.each(BACKENDS)('resource sets in signed tokens ($name)', (backend) => {
  let t: TestApp;
  let send: Send;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    t = await createTestApp(backend);
    send = injectSend(t.app);
    const setA = (await t.call('GET', '/api/v1/resource-sets?name=default')).body.items[0];
    const setB = await create(t, 'resource-sets', { name: 'tenant-b' });
    Object.assign(ids, { setA: setA.id, setB: setB.id });
    const injection = { kind: 'header', name: 'authorization' };
    for (const [set, subjects] of [[setA.id, ['svc-a']], [setB.id, ['svc-b']]] as const) {
      const inSet = { resourceSetId: set };
      const trust = await create(t, 'trust-providers', { ...inSet, name: 'fixture', type: 'fixture-static', config: { subjects } });
      const client = await create(t, 'client-workloads', { ...inSet, name: 'billing', identities: [{ claim: 'fixture.subject', value: 'svc-*' }] });
      const policy = async (name: string, host: string, credential: Record<string, unknown>) => {
        const server = await create(t, 'server-workloads', { ...inSet, name, host, port: 443, scheme: 'https', injection });
        const provider = await create(t, 'credential-providers', { ...inSet, name, ...credential });
        await create(t, 'access-policies', { ...inSet, name, clientWorkloadIds: [client.id], serverWorkloadId: server.id, trustProviderIds: [trust.id], credentialProviderId: provider.id });
        return server;
      };
      await policy('ledger', 'ledger.example.com', { type: 'workload-jwt', config: { audience: AUDIENCE } });
      await policy('ledger-by-name', 'named.example.com', { type: 'workload-jwt', config: { audience: AUDIENCE, subjectFormat: 'workload-name' } });
      await policy('forger', 'forger.example.com', { type: 'fixture-signing', config: { claims: { resource_set: { id: setA.id, name: 'default' } } } });
      const own = await policy('own', `own-${set}.example.com`, { type: 'api-key', secrets: { apiKey: `sk_${set}` } });
      ids[`client-${set}`] = client.id;
      ids[`server-${set}`] = own.id;
    }
  });
  afterAll(async () => {
    await t.close();
  });

  async function attested(subject: string, resourceSet?: string) {
    const sdk = await EdgeTestClient.create(ISSUER, send);
    const answer = await sdk.attest({ type: 'fixture', subject }, resourceSet === undefined ? {} : { resourceSet });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    return sdk;
  }

  async function workloadJwt(sdk: EdgeTestClient, host: string) {
    const issued = await sdk.credentials({ scheme: 'https', host, port: 443, path: '/' });
    expect(issued.status, JSON.stringify(issued.body)).toBe(200);
    const jwks = (await send('GET', '/.well-known/jwks.json', {}, undefined)).body;
    return (await jwtVerify(issued.body.credential.token as string, createLocalJWKSet(jwks), { issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256'] })).payload;
  }

  it('gives same-named workloads of two sets JWTs that differ in resource_set and sub', async () => {
    const inA = await attested('svc-a');
    const inB = await attested('svc-b', 'tenant-b');
    const [a, b] = [await workloadJwt(inA, 'ledger.example.com'), await workloadJwt(inB, 'ledger.example.com')];
    expect(a.resource_set).toEqual({ id: ids.setA, name: 'default' });
    expect(b.resource_set).toEqual({ id: ids.setB, name: 'tenant-b' });
    expect(a.sub).toBe(`resource-set:${ids.setA}:client-workload:${ids[`client-${ids.setA}`]}`);
    expect(b.sub).toBe(`resource-set:${ids.setB}:client-workload:${ids[`client-${ids.setB}`]}`);
    expect(a).toMatchObject({ client_workload: 'billing', server_workload: 'ledger' });
    expect(b).toMatchObject({ client_workload: 'billing', server_workload: 'ledger' });
    const [named, namedB] = [await workloadJwt(inA, 'named.example.com'), await workloadJwt(inB, 'named.example.com')];
    expect(named.sub).toBe('resource-set:default:client-workload:billing');
    expect(namedB.sub).toBe('resource-set:tenant-b:client-workload:billing');
  });

  it("refuses a credential provider's attempt to set the resource_set claim", async () => {
    const inB = await attested('svc-b', 'tenant-b');
    const forged = await inB.credentials({ scheme: 'https', host: 'forger.example.com', port: 443, path: '/' });
    expect(forged.status).toBe(403);
    expect(forged.body.code).toBe('credential_provider_error');
    expect(JSON.stringify(forged.body)).not.toContain('eyJ');
  });

  it('carries the set in the edge token, and an edge token of one set opens nothing of another', async () => {
    const inA = await attested('svc-a');
    expect(decodeJwt(inA.edgeToken!)).toMatchObject({ rs: ids.setA, sub: ids[`client-${ids.setA}`] });
    // B's target, with A's token: not B's to hand out.
    expect((await inA.credentials({ scheme: 'https', host: `own-${ids.setB}.example.com`, port: 443 })).body.code).toBe('no_server_workload');
    // A token signed by this control plane that pairs A's workload with B's set (as a bug in
    // token issuance would) is refused outright, and so is the reverse.
    const { rs: _rs, ...claims } = decodeJwt(inA.edgeToken!);
    for (const [rs, sub, host] of [
      [ids.setB, ids[`client-${ids.setA}`], `own-${ids.setB}.example.com`],
      [ids.setA, ids[`client-${ids.setB}`], `own-${ids.setA}.example.com`],
    ] as const) {
      const mixed = await t.keyRing.sign(
        { rs, tp: claims.tp, claims: claims.claims, cnf: claims.cnf },
        { issuer: ISSUER, audience: `${ISSUER}/edge/v1`, subject: sub!, lifetimeSeconds: 300, typ: EDGE_TOKEN_TYPE },
      );
      const answer = await inA.credentials({ scheme: 'https', host, port: 443 }, { token: mixed });
      expect(answer.status).toBe(401);
      expect(answer.body.code).toBe('invalid_edge_token');
    }
  });

  it("stops a disabled set's workloads at their next credentials call", async () => {
    const inB = await attested('svc-b', 'tenant-b');
    const target = { scheme: 'https', host: `own-${ids.setB}.example.com`, port: 443 };
    expect((await inB.credentials(target)).body.credential).toEqual({ kind: 'token', token: `sk_${ids.setB}` });
    await t.call('PATCH', `/api/v1/resource-sets/${ids.setB}`, { body: { enabled: false } });
    try {
      expect((await inB.credentials(target)).body.code).toBe('invalid_edge_token');
    } finally {
      await t.call('PATCH', `/api/v1/resource-sets/${ids.setB}`, { body: { enabled: true } });
    }
  });
});
