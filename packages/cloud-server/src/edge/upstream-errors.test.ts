import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loggerOptions } from '../logger-options.js';
import { BACKENDS } from '../../test/support/store-backends.js';
import { create, createTestApp, type TestApp } from '../../test/support/app-harness.js';
import { EdgeTestClient, type Send } from '../../test/support/edge-client.js';

/**
 * An editor may point a credential provider at any URL. What the workload and the audit trail
 * learn when that upstream fails must not depend on how it failed — refused, timed out, HTTP 404
 * or 500 — or the control plane becomes a port scanner for editors; nor may it carry the
 * upstream's own words. The operator's log has the details.
 */

const ISSUER = 'https://tessera.test';
const SECRET = 'oauth-client-secret-value';
/** Text an internal upstream might send back, which must reach no workload and no audit event. */
const INTERNAL = 'db-7.corp.internal';

describe('upstream failures of a credential provider', () => {
  let t: TestApp;
  let upstream: Server;
  let upstreamUrl: string;
  let closedUrl: string;
  const lines: string[] = [];
  let send: Send;
  let credentialId: string;

  beforeAll(async () => {
    upstream = createServer((request, response) => {
      const reply = (status: number, body: unknown, type = 'application/json') =>
        response.writeHead(status, { 'content-type': type }).end(typeof body === 'string' ? body : JSON.stringify(body));
      if (request.url === '/missing/token') return reply(404, `no such page on ${INTERNAL}`, 'text/plain');
      if (request.url === '/failing/token') return reply(500, { error: 'server_error', error_description: `connection to ${INTERNAL}:5432 lost` });
      if (request.url === '/refusing/token') return reply(401, { error: 'invalid_client', error_description: `client unknown to ${INTERNAL}` });
      if (request.url === '/slow/token') return void setTimeout(() => reply(200, {}), 2000);
      return reply(404, {});
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    closedUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}/token`;
    await new Promise((resolve) => probe.close(resolve));

    t = await createTestApp(BACKENDS[0]!, { app: { logger: loggerOptions('debug', { write: (line: string) => void lines.push(line) }) } });
    send = async (method, path, headers, body) => {
      const response = await t.app.inject({ method: method as 'POST', url: path, headers, payload: body as object });
      return { status: response.statusCode, body: JSON.parse(response.body) };
    };
    const client = await create(t, 'client-workloads', { name: 'caller', identities: [{ claim: 'fixture.subject', value: 'svc' }] });
    const trust = await create(t, 'trust-providers', { name: 'fixture', type: 'fixture-static', config: { subjects: ['svc'] } });
    const server = await create(t, 'server-workloads', { name: 'api', host: 'api.example.com', port: 443, scheme: 'https', injection: { kind: 'header', name: 'authorization' } });
    const credential = await create(t, 'credential-providers', {
      name: 'partner-oauth',
      type: 'oauth2-client-credentials',
      config: { tokenEndpoint: closedUrl, clientId: 'tessera', authMethod: 'client_secret_post', timeoutMs: 300 },
      secrets: { clientSecret: SECRET },
    });
    credentialId = credential.id;
    await create(t, 'access-policies', { name: 'p', clientWorkloadIds: [client.id], serverWorkloadId: server.id, trustProviderIds: [trust.id], credentialProviderId: credential.id });
  });
  afterAll(async () => {
    await t?.close();
    await new Promise((resolve) => upstream?.close(resolve));
  });

  async function attemptWith(tokenEndpoint: string) {
    const patched = await t.call('PATCH', `/api/v1/credential-providers/${credentialId}`, {
      body: { config: { tokenEndpoint, clientId: 'tessera', authMethod: 'client_secret_post', timeoutMs: 300 }, secrets: { clientSecret: SECRET } },
    });
    expect(patched.status, patched.raw).toBe(200);
    const sdk = await EdgeTestClient.create(ISSUER, send);
    await sdk.attest({ type: 'fixture', subject: 'svc' });
    lines.length = 0;
    const answer = await sdk.credentials({ scheme: 'https', host: 'api.example.com', port: 443, path: '/x' });
    const log = lines.map((line) => JSON.parse(line) as { level: number; msg: string; upstream?: Record<string, unknown> });
    return { answer, log };
  }

  it('answers the same whether the endpoint is closed, slow, missing or failing, and audits the same', async () => {
    const cases = {
      refused: await attemptWith(closedUrl),
      timeout: await attemptWith(`${upstreamUrl}/slow/token`),
      'HTTP 404': await attemptWith(`${upstreamUrl}/missing/token`),
      'HTTP 500': await attemptWith(`${upstreamUrl}/failing/token`),
    };
    for (const [name, { answer }] of Object.entries(cases)) {
      expect({ name, status: answer.status, body: answer.body }).toEqual({
        name,
        status: 403,
        body: { code: 'credential_provider_error', message: 'Credential provider partner-oauth: credential(oauth2-client-credentials): no token from the token endpoint' },
      });
    }
    const audit = await t.call('GET', `/api/v1/audit-events?kind=edge.credential&limit=4`);
    const messages = audit.body.items.map((event: { outcome: string; reason: string; data: { message: string } }) => [event.outcome, event.reason, event.data.message]);
    expect(new Set(messages.map((m: string[]) => JSON.stringify(m))).size).toBe(1);
    expect(audit.raw).not.toContain(INTERNAL);

    // The operator's log tells the cases apart, without the upstream's words at warn level.
    const warned = Object.values(cases).map(({ log }) => log.find((entry) => entry.level === 40 && entry.msg.startsWith('provider failed'))?.upstream);
    expect(warned).toEqual([
      { endpoint: closedUrl, failure: 'network', networkCode: 'ECONNREFUSED' },
      { endpoint: `${upstreamUrl}/slow/token`, failure: 'timeout' },
      { endpoint: `${upstreamUrl}/missing/token`, status: 404 },
      { endpoint: `${upstreamUrl}/failing/token`, status: 500, error: 'server_error' },
    ]);
    const failing = cases['HTTP 500'].log;
    expect(JSON.stringify(failing.filter((entry) => entry.level >= 30))).not.toContain(INTERNAL);
    expect(failing.find((entry) => entry.level === 20 && entry.msg === 'upstream description')?.upstream).toEqual({ description: `connection to ${INTERNAL}:5432 lost` });
  });

  it('names a registered OAuth error, and only that, to the workload', async () => {
    const { answer, log } = await attemptWith(`${upstreamUrl}/refusing/token`);
    expect(answer.body).toEqual({
      code: 'credential_provider_error',
      message: 'Credential provider partner-oauth: credential(oauth2-client-credentials): the token endpoint refused the request: invalid_client',
    });
    expect(JSON.stringify(answer.body)).not.toContain(INTERNAL);
    expect(log.find((entry) => entry.level === 40)?.upstream).toEqual({ endpoint: `${upstreamUrl}/refusing/token`, status: 401, error: 'invalid_client' });
    expect(lines.join('')).not.toContain(SECRET);
  });
});

describe('an access condition that fails unexpectedly', () => {
  it('fails closed as "could not be evaluated", without its error message; the log has it', async () => {
    const lines: string[] = [];
    const t = await createTestApp(BACKENDS[0]!, { app: { logger: loggerOptions('info', { write: (line: string) => void lines.push(line) }) } });
    try {
      const client = await create(t, 'client-workloads', { name: 'caller', identities: [{ claim: 'fixture.subject', value: 'svc' }] });
      const trust = await create(t, 'trust-providers', { name: 'fixture', type: 'fixture-static', config: { subjects: ['svc'] } });
      const server = await create(t, 'server-workloads', { name: 'api', host: 'api.example.com', port: 443, scheme: 'https', injection: { kind: 'basic' } });
      const credential = await create(t, 'credential-providers', { name: 'key', type: 'api-key', secrets: { apiKey: 'sk_condition_test' } });
      const posture = await create(t, 'access-conditions', { name: 'posture', type: 'fixture-erroring', config: {} });
      await create(t, 'access-policies', { name: 'p', clientWorkloadIds: [client.id], serverWorkloadId: server.id, trustProviderIds: [trust.id], accessConditionIds: [posture.id], credentialProviderId: credential.id });
      const send: Send = async (method, path, headers, body) => {
        const response = await t.app.inject({ method: method as 'POST', url: path, headers, payload: body as object });
        return { status: response.statusCode, body: JSON.parse(response.body) };
      };
      const sdk = await EdgeTestClient.create(ISSUER, send);
      await sdk.attest({ type: 'fixture', subject: 'svc' });
      const denied = await sdk.credentials({ scheme: 'https', host: 'api.example.com', port: 443 });
      expect(denied.status).toBe(403);
      expect(denied.body).toMatchObject({ code: 'condition_failed', details: { condition: { name: 'posture', reason: 'could not be evaluated' } } });
      expect(JSON.stringify(denied.body)).not.toContain(INTERNAL);
      const audit = await t.call('GET', '/api/v1/audit-events?kind=edge.credential');
      expect(audit.body.items[0]).toMatchObject({ reason: 'condition_failed' });
      expect(audit.raw).not.toContain(INTERNAL);
      expect(lines.some((line) => line.includes('"level":40') && line.includes(INTERNAL))).toBe(true);
    } finally {
      await t.close();
    }
  });
});

describe('upstream failures of a trust provider key source', () => {
  it('answers an attestation the same whether the JWKS URL is closed, missing or failing', async () => {
    const t = await createTestApp(BACKENDS[0]!);
    const jwks = createServer((request, response) => {
      if (request.url === '/missing/jwks') return void response.writeHead(404, { 'content-type': 'text/plain' }).end(`not on ${INTERNAL}`);
      response.writeHead(500, { 'content-type': 'text/plain' }).end(`${INTERNAL} is down`);
    });
    try {
      await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
      const origin = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}`;
      const probe = createServer();
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
      const closed = `http://127.0.0.1:${(probe.address() as AddressInfo).port}/jwks`;
      await new Promise((resolve) => probe.close(resolve));
      const trust = await create(t, 'trust-providers', { name: 'idp', type: 'oidc', config: { issuer: 'https://idp.test', jwksUri: closed, algorithms: ['ES256'] } });
      await create(t, 'client-workloads', { name: 'c', identities: [{ claim: 'oidc.subject', value: 'svc' }] });
      const { privateKey } = await generateKeyPair('ES256');
      const token = await new SignJWT({ sub: 'svc' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('https://idp.test').setAudience(ISSUER).setIssuedAt().setExpirationTime('5m').sign(privateKey);
      const send: Send = async (method, path, headers, body) => {
        const response = await t.app.inject({ method: method as 'POST', url: path, headers, payload: body as object });
        return { status: response.statusCode, body: JSON.parse(response.body) };
      };
      const answers: unknown[] = [];
      for (const jwksUri of [closed, `${origin}/missing/jwks`, `${origin}/failing/jwks`]) {
        await t.call('PATCH', `/api/v1/trust-providers/${trust.id}`, { body: { config: { issuer: 'https://idp.test', jwksUri, algorithms: ['ES256'] } } });
        const sdk = await EdgeTestClient.create(ISSUER, send);
        const answer = await sdk.attest({ type: 'jwt', token });
        answers.push({ status: answer.status, body: answer.body });
      }
      expect(answers).toEqual(Array(3).fill({ status: 502, body: { code: 'trust_provider_error', message: 'No trust provider could check the evidence (key source unavailable)' } }));
      const audit = await t.call('GET', '/api/v1/audit-events?kind=edge.attest&limit=3');
      expect(new Set(audit.body.items.map((event: { data: { message: string } }) => event.data.message)).size).toBe(1);
      expect(audit.raw).not.toContain(INTERNAL);
    } finally {
      await t.close();
      await new Promise((resolve) => jwks.close(resolve));
    }
  });
});
