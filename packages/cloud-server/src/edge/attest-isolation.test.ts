import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../../test/support/store-backends.js';
import { create, createTestApp, type TestApp } from '../../test/support/app-harness.js';
import { EdgeTestClient, injectSend, type Send } from '../../test/support/edge-client.js';

/**
 * Tenant isolation at attestation. Set A is the default set; set B belongs to another team whose
 * editor key is the attacker: it copies A's trust provider (same public issuer and JWKS) and adds
 * a catch-all client workload with more identities. A's workloads must still attest into A.
 */

const ISSUER = 'https://tessera.test';
const IDP = 'https://idp.example.com';
const OTHER_IDP = 'https://other-idp.example.com';

interface SigningKey {
  privateKey: CryptoKey;
  jwks: { keys: JWK[] };
  kid: string;
}

async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { privateKey, kid, jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] } };
}

function token(key: SigningKey, claims: { iss: string; sub: string; aud?: string }) {
  return new SignJWT({ repository: 'acme/app' })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'JWT' })
    .setIssuer(claims.iss)
    .setSubject(claims.sub)
    .setAudience(claims.aud ?? ISSUER)
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(key.privateKey);
}

describe.each(BACKENDS)('attestation isolation between resource sets ($name)', (backend) => {
  let t: TestApp;
  let send: Send;
  let idpKey: SigningKey;
  let otherIdpKey: SigningKey;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    t = await createTestApp(backend);
    send = injectSend(t.app);
    idpKey = await signingKey('idp-1');
    otherIdpKey = await signingKey('other-1');
    const setA = (await t.call('GET', '/api/v1/resource-sets?name=default')).body.items[0];
    const setB = await create(t, 'resource-sets', { name: 'tenant-b' });
    const editorB = (await create(t, 'admin-keys', { name: 'editor-b', role: 'editor', resourceSetIds: [setB.id] })).key as string;
    Object.assign(ids, { setA: setA.id, setB: setB.id });
    const injection = { kind: 'header', name: 'authorization' };

    // The attacker's objects come first: where order decides, set A's must still win.
    const inB = { resourceSetId: setB.id };
    const trustB = await create(t, 'trust-providers', { ...inB, name: 'idp', type: 'oidc', config: { issuer: IDP, jwks: idpKey.jwks } }, editorB);
    await create(t, 'trust-providers', { ...inB, name: 'other-idp', type: 'oidc', config: { issuer: OTHER_IDP, jwks: otherIdpKey.jwks, audience: 'https://not-this-cloud.example' } }, editorB);
    const catchAll = await create(t, 'client-workloads', { ...inB, name: 'catch-all', identities: [{ claim: 'oidc.subject', value: '*' }, { claim: 'oidc.issuer', value: '*' }] }, editorB);
    const serverB = await create(t, 'server-workloads', { ...inB, name: 'b-api', host: 'b-api.example.com', port: 443, scheme: 'https', injection }, editorB);
    const keyB = await create(t, 'credential-providers', { ...inB, name: 'b-key', type: 'api-key', secrets: { apiKey: 'sk_tenant_b_value' } }, editorB);
    await create(t, 'access-policies', { ...inB, name: 'b', clientWorkloadIds: [catchAll.id], serverWorkloadId: serverB.id, trustProviderIds: [trustB.id], credentialProviderId: keyB.id }, editorB);
    Object.assign(ids, { catchAll: catchAll.id, trustB: trustB.id, serverB: serverB.id });

    const trustA = await create(t, 'trust-providers', { name: 'idp', type: 'oidc', config: { issuer: IDP, jwks: idpKey.jwks } });
    const appA = await create(t, 'client-workloads', { name: 'app', identities: [{ claim: 'oidc.subject', value: 'repo:acme/app' }] });
    const serverA = await create(t, 'server-workloads', { name: 'a-api', host: 'a-api.example.com', port: 443, scheme: 'https', injection });
    const keyA = await create(t, 'credential-providers', { name: 'a-key', type: 'api-key', secrets: { apiKey: 'sk_tenant_a_value' } });
    await create(t, 'access-policies', { name: 'a', clientWorkloadIds: [appA.id], serverWorkloadId: serverA.id, trustProviderIds: [trustA.id], credentialProviderId: keyA.id });
    Object.assign(ids, { appA: appA.id, trustA: trustA.id, serverA: serverA.id });
  });
  afterAll(async () => {
    await t.close();
  });

  const attestAs = async (evidence: Record<string, unknown>, resourceSet?: string) => {
    const sdk = await EdgeTestClient.create(ISSUER, send);
    const answer = await sdk.attest(evidence, resourceSet === undefined ? {} : { resourceSet });
    return { sdk, answer };
  };

  it("keeps A's workload in A although B copied A's provider and added a catch-all workload with more identities", async () => {
    const evidence = { type: 'jwt', token: await token(idpKey, { iss: IDP, sub: 'repo:acme/app' }) };
    const { sdk, answer } = await attestAs(evidence);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body.clientWorkload).toEqual({ id: ids.appA, name: 'app' });
    expect(answer.body.directory.map((d: { serverWorkloadId: string }) => d.serverWorkloadId)).toEqual([ids.serverA]);
    const credential = await sdk.credentials({ scheme: 'https', host: 'a-api.example.com', port: 443, path: '/' });
    expect(credential.body.credential).toEqual({ kind: 'token', token: 'sk_tenant_a_value' });
    // Audited in A, verified by A's provider only.
    const events = (await t.call('GET', `/api/v1/audit-events?kind=edge.attest&clientWorkloadId=${ids.appA}`)).body.items;
    expect(events[0]).toMatchObject({ resourceSetId: ids.setA, outcome: 'allow', data: { trustProviderIds: [ids.trustA] } });
    const inB = (await t.call('GET', `/api/v1/audit-events?kind=edge.attest&clientWorkloadId=${ids.catchAll}`)).body.items;
    expect(inB).toEqual([]);
  });

  it("is not made ambiguous by B's workload with as many identities", async () => {
    const rival = await create(t, 'client-workloads', { resourceSetId: ids.setB, name: 'rival', identities: [{ claim: 'oidc.subject', value: 'repo:acme/*' }] });
    try {
      const { answer } = await attestAs({ type: 'jwt', token: await token(idpKey, { iss: IDP, sub: 'repo:acme/app' }) });
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      expect(answer.body.clientWorkload.id).toBe(ids.appA);
    } finally {
      await t.call('DELETE', `/api/v1/client-workloads/${rival.id}`);
    }
  });

  it("never tells A's caller why B's provider refused", async () => {
    // Only B has a provider for this issuer, configured for another audience: A has none.
    const { answer } = await attestAs({ type: 'jwt', token: await token(otherIdpKey, { iss: OTHER_IDP, sub: 'repo:acme/app' }) });
    expect(answer.status).toBe(401);
    expect(answer.body.code).toBe('unsupported_evidence');
    expect(JSON.stringify(answer.body)).not.toMatch(/aud|mismatch|tenant-b|other-idp/);
    const failed = (await t.call('GET', '/api/v1/audit-events?kind=edge.attest&outcome=deny')).body.items[0];
    expect(failed).toMatchObject({ resourceSetId: ids.setA, reason: 'unsupported_evidence' });
    expect(JSON.stringify(failed)).not.toMatch(/mismatch/);
  });

  it('attests into B, with B\'s providers only, when the workload names B by name or id', async () => {
    for (const resourceSet of ['tenant-b', ids.setB!]) {
      const { sdk, answer } = await attestAs({ type: 'jwt', token: await token(idpKey, { iss: IDP, sub: 'repo:other/thing' }) }, resourceSet);
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      expect(answer.body.clientWorkload.id).toBe(ids.catchAll);
      expect(answer.body.directory.map((d: { serverWorkloadId: string }) => d.serverWorkloadId)).toEqual([ids.serverB]);
      // Set A's server workload is not B's to reach.
      expect((await sdk.credentials({ scheme: 'https', host: 'a-api.example.com', port: 443 })).body.code).toBe('no_server_workload');
    }
    const inB = (await t.call('GET', `/api/v1/audit-events?kind=edge.attest&clientWorkloadId=${ids.catchAll}`)).body.items;
    expect(inB[0]).toMatchObject({ resourceSetId: ids.setB, data: { trustProviderIds: [ids.trustB] } });
    // B's refusal, for B's workload: the reason comes from B's provider.
    const refused = await attestAs({ type: 'jwt', token: await token(otherIdpKey, { iss: OTHER_IDP, sub: 'x' }) }, 'tenant-b');
    expect(refused.answer.body).toMatchObject({ code: 'evidence_invalid', message: expect.stringContaining('"aud" mismatch') });
  });

  it('answers an unknown or disabled resource set exactly as a set that has no provider for the evidence', async () => {
    const evidence = { type: 'jwt', token: await token(idpKey, { iss: IDP, sub: 'repo:acme/app' }) };
    const empty = await create(t, 'resource-sets', { name: 'empty' });
    const disabled = await create(t, 'resource-sets', { name: 'switched-off' });
    await create(t, 'trust-providers', { resourceSetId: disabled.id, name: 'idp', type: 'oidc', config: { issuer: IDP, jwks: idpKey.jwks } });
    await create(t, 'client-workloads', { resourceSetId: disabled.id, name: 'app', identities: [{ claim: 'oidc.subject', value: '*' }] });
    await t.call('PATCH', `/api/v1/resource-sets/${disabled.id}`, { body: { enabled: false } });
    const answers = await Promise.all(['empty', 'no-such-set', '0190b8a4-0000-7000-8000-000000000000', 'switched-off'].map(async (name) => (await attestAs(evidence, name)).answer));
    for (const answer of answers) {
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual(answers[0]!.body);
    }
    expect(answers[0]!.body.code).toBe('unsupported_evidence');
    expect(empty.id).toBeDefined();
  });

  it.each([
    ['empty', ''],
    ['too long', 'x'.repeat(129)],
    ['not a name', 'tenant b'],
    ['not a string', 42],
  ])('refuses a resource set that is %s with 400', async (_label, resourceSet) => {
    const sdk = await EdgeTestClient.create(ISSUER, send);
    const answer = await send('POST', '/edge/v1/attest', { dpop: await sdk.proof('POST', '/edge/v1/attest') }, { evidence: { type: 'jwt', token: 'x.y.z' }, resourceSet });
    expect(answer.status).toBe(400);
    expect(answer.body.code).toBe('validation_failed');
  });
});
