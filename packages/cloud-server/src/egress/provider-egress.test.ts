import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loggerOptions } from '../logger-options.js';
import { BACKENDS } from '../../test/support/store-backends.js';
import { LOOPBACK, create, createTestApp, type TestApp } from '../../test/support/app-harness.js';
import { EdgeTestClient, type Send } from '../../test/support/edge-client.js';
import { providerDestinationGuard } from './destination-guard.js';

/**
 * An editor chooses the URLs the control plane calls for a provider. Pointed at the control
 * plane's own loopback (a sidecar's admin port, an agent's unauthenticated API) or at the cloud
 * metadata service, those calls must not be made unless the operator allowed the address; the
 * operator's log says what was refused and how to allow it, and nothing reaches the service.
 */

const ISSUER = 'https://tessera.test';

interface Attack {
  t: TestApp;
  send: Send;
  lines: string[];
}

async function startAttack(allow: readonly string[]): Promise<Attack> {
  const lines: string[] = [];
  const t = await createTestApp(BACKENDS[0]!, {
    app: { providerGuard: providerDestinationGuard(allow), logger: loggerOptions('info', { write: (line: string) => void lines.push(line) }) },
  });
  const send: Send = async (method, path, headers, body) => {
    const response = await t.app.inject({ method: method as 'POST', url: path, headers, payload: body as object });
    return { status: response.statusCode, body: JSON.parse(response.body) };
  };
  return { t, send, lines };
}

describe('provider calls to addresses the operator did not allow', () => {
  /** Stands in for an internal service on the control plane's loopback: counts what reaches it. */
  let internal: Server;
  let internalUrl: string;
  const received: string[] = [];
  let editorKey: string;
  let setB: { id: string };
  let attack: Attack;
  let sign: (iss: string) => Promise<string>;

  beforeAll(async () => {
    internal = createServer((request, response) => {
      received.push(`${request.method} ${request.url}`);
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":[]}');
    });
    await new Promise<void>((resolve) => internal.listen(0, '127.0.0.1', resolve));
    internalUrl = `http://127.0.0.1:${(internal.address() as AddressInfo).port}`;
    const { privateKey } = await generateKeyPair('ES256');
    sign = (iss) => new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(iss).setSubject('repo:acme/app').setAudience(ISSUER).setIssuedAt().setExpirationTime('5m').sign(privateKey);

    attack = await startAttack([]);
    setB = await create(attack.t, 'resource-sets', { name: 'tenant-b' });
    editorKey = (await create(attack.t, 'admin-keys', { name: 'b-editor', role: 'editor', resourceSetIds: [setB.id] })).key;
  });
  afterAll(async () => {
    await attack?.t.close();
    await new Promise((resolve) => internal?.close(resolve));
  });

  const asEditor = async (plural: string, body: Record<string, unknown>) => {
    const response = await attack.t.call('POST', `/api/v1/${plural}`, { key: editorKey, body: { resourceSetId: setB.id, ...body } });
    expect(response.status, response.raw).toBe(201);
    return response.body;
  };

  it('a JWKS on loopback: the attestation fails, the service is never called, the operator is told', async () => {
    const issuer = 'https://idp.tenant-b.example';
    await asEditor('trust-providers', { name: 'probe-jwks', type: 'oidc', config: { issuer, jwksUri: `${internalUrl}/admin/keys` } });
    await asEditor('client-workloads', { name: 'app', identities: [{ claim: 'oidc.subject', value: 'repo:acme/app' }] });
    attack.lines.length = 0;
    const sdk = await EdgeTestClient.create(ISSUER, attack.send);
    const answer = await sdk.attest({ type: 'jwt', token: await sign(issuer) }, { resourceSet: 'tenant-b' });
    expect(answer.status).toBe(502);
    expect(answer.body.code).toBe('trust_provider_error');
    expect(received).toEqual([]);
    const warnings = attack.lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg?.includes('--provider-egress-allow'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40, host: '127.0.0.1' });
    expect(warnings[0].reason).toMatch(/loopback address, which providers may not reach/);
  });

  it('an OAuth2 token endpoint on loopback, and the cloud metadata service: no call is made', async () => {
    const client = await asEditor('client-workloads', { name: 'caller', identities: [{ claim: 'fixture.subject', value: 'svc' }] });
    const trust = await asEditor('trust-providers', { name: 'fixture', type: 'fixture-static', config: { subjects: ['svc'] } });
    const server = await asEditor('server-workloads', { name: 'api', host: 'api.example.com', port: 443, scheme: 'https', injection: { kind: 'header', name: 'authorization' } });
    const credential = await asEditor('credential-providers', {
      name: 'probe-token',
      type: 'oauth2-client-credentials',
      config: { tokenEndpoint: `${internalUrl}/v1/agent/token`, clientId: 'tessera', authMethod: 'client_secret_post', timeoutMs: 500 },
      secrets: { clientSecret: 'secret' },
    });
    await asEditor('access-policies', { name: 'p', clientWorkloadIds: [client.id], serverWorkloadId: server.id, trustProviderIds: [trust.id], credentialProviderId: credential.id });
    const sdk = await EdgeTestClient.create(ISSUER, attack.send);
    expect((await sdk.attest({ type: 'fixture', subject: 'svc' }, { resourceSet: 'tenant-b' })).status).toBe(200);
    const target = { scheme: 'https', host: 'api.example.com', port: 443, path: '/x' } as const;
    const first = await sdk.credentials(target);
    expect(first.body.code).toBe('credential_provider_error');

    // The metadata service is http on a link-local address: refused like loopback.
    const patched = await attack.t.call('PATCH', `/api/v1/credential-providers/${credential.id}`, {
      key: editorKey,
      body: { config: { tokenEndpoint: 'http://169.254.169.254/latest/api/token', clientId: 'tessera', authMethod: 'client_secret_post', timeoutMs: 500 }, secrets: { clientSecret: 'secret' } },
    });
    // Written or not (the URL rules may refuse plain http there first), no call may go out.
    if (patched.status === 200) expect((await sdk.credentials(target)).body.code).toBe('credential_provider_error');
    else expect(patched.status).toBe(400);
    expect(received).toEqual([]);
  });

  it('reaches loopback once the operator allows it', async () => {
    const allowed = await startAttack(LOOPBACK);
    try {
      const issuer = 'https://idp.allowed.example';
      await create(allowed.t, 'trust-providers', { name: 'local-jwks', type: 'oidc', config: { issuer, jwksUri: `${internalUrl}/keys` } });
      await create(allowed.t, 'client-workloads', { name: 'app', identities: [{ claim: 'oidc.subject', value: 'repo:acme/app' }] });
      const sdk = await EdgeTestClient.create(ISSUER, allowed.send);
      const answer = await sdk.attest({ type: 'jwt', token: await sign(issuer) });
      // The stand-in serves an empty key set: the call was made, and the token's key is not in it.
      expect(answer.status).toBe(401);
      expect(received).toEqual(['GET /keys']);
    } finally {
      await allowed.t.close();
      received.length = 0;
    }
  });
});
