import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../../test/support/store-backends.js';
import { create, createTestApp, type TestApp } from '../../test/support/app-harness.js';
import { EdgeTestClient, injectSend, type Send } from '../../test/support/edge-client.js';

/**
 * A dead key endpoint slows only the workloads whose evidence it is for: set B's providers are
 * never asked about set A's evidence, a provider of another issuer is not asked either, and a
 * provider that is asked gets a bounded share of the attestation.
 */

const ISSUER = 'https://tessera.test';
const IDP = 'https://idp.example.com';
const DEAD_IDP = 'https://dead-idp.example.com';
const VERIFY_TIMEOUT_MS = 1000;

describe('slow and dead trust providers', () => {
  let t: TestApp;
  let send: Send;
  let hanging: Server;
  let hangingUrl: string;
  let connections = 0;
  const sockets: Socket[] = [];
  let sign: (iss: string) => Promise<string>;

  beforeAll(async () => {
    // Accepts connections and never answers.
    hanging = createServer(() => {});
    hanging.on('connection', (socket) => {
      connections += 1;
      socket.on('error', () => {});
      sockets.push(socket);
    });
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    hangingUrl = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/jwks`;

    t = await createTestApp(BACKENDS[0]!, { trustProviderTimeoutMs: VERIFY_TIMEOUT_MS });
    send = injectSend(t.app);
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] };
    sign = (iss) =>
      new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(iss).setSubject('repo:acme/app').setAudience(ISSUER).setIssuedAt().setExpirationTime('5m').sign(privateKey);

    // Set A: its own issuer with inline keys, and a second issuer whose keys never come.
    await create(t, 'trust-providers', { name: 'idp', type: 'oidc', config: { issuer: IDP, jwks } });
    await create(t, 'trust-providers', { name: 'dead-idp', type: 'oidc', config: { issuer: DEAD_IDP, jwksUri: hangingUrl } });
    await create(t, 'client-workloads', { name: 'app', identities: [{ claim: 'oidc.subject', value: 'repo:acme/app' }] });
    // Set B: three providers of A's very issuer, all with dead keys.
    const setB = await create(t, 'resource-sets', { name: 'tenant-b' });
    for (const name of ['dead-1', 'dead-2', 'dead-3']) {
      await create(t, 'trust-providers', { resourceSetId: setB.id, name, type: 'oidc', config: { issuer: IDP, jwksUri: hangingUrl } });
    }
  });
  afterAll(async () => {
    await t.close();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => hanging.close(resolve));
  });

  async function timedAttest(token: string, resourceSet?: string) {
    const sdk = await EdgeTestClient.create(ISSUER, send);
    const started = performance.now();
    const answer = await sdk.attest({ type: 'jwt', token }, resourceSet === undefined ? {} : { resourceSet });
    return { answer, ms: performance.now() - started };
  }

  it("answers set A at once, whatever set B's dead providers and A's other issuer do", async () => {
    const before = connections;
    const { answer, ms } = await timedAttest(await sign(IDP));
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(ms).toBeLessThan(VERIFY_TIMEOUT_MS);
    expect(connections).toBe(before); // nobody even tried the dead endpoint
  });

  it('gives a provider that is asked a bounded share of the attestation, and one connection to its dead endpoint', async () => {
    const before = connections;
    const { answer, ms } = await timedAttest(await sign(DEAD_IDP));
    expect(answer.status).toBe(502);
    expect(answer.body.code).toBe('trust_provider_error');
    expect(ms).toBeGreaterThanOrEqual(VERIFY_TIMEOUT_MS - 50);
    expect(ms).toBeLessThan(VERIFY_TIMEOUT_MS + 1500);
    // The next attestations share the fetch still in flight, then its remembered failure.
    for (let i = 0; i < 3; i += 1) expect((await timedAttest(await sign(DEAD_IDP))).answer.body.code).toBe('trust_provider_error');
    expect(connections).toBe(before + 1);
  });
});
