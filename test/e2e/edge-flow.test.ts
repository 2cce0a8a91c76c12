import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRemoteJWKSet, generateKeyPair, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EdgeTestClient, type Send } from '../../packages/cloud-server/test/support/edge-client.js';
import { api, startCloud, type CloudProcess } from './support/cloud-process.js';
import { startFakeIssuer, startFakeTokenServer } from './support/fake-services.js';

const PLUGIN = fileURLToPath(new URL('../fixtures/custom-provider/index.js', import.meta.url));
const API_KEY = 'sk_live_e2e_payments_7c1d';
const ENROLMENT_TOKEN = 'enrol_e2e_token_5b2f';

/**
 * The whole edge flow over raw HTTP against the real process: a fake OIDC issuer vouches for the
 * workload, the admin API sets up every object, then attest → credentials of each kind → every
 * deny reason → the audit trail, with a custom plugin's providers used exactly like built-ins.
 */
describe('edge flow against a running control plane', () => {
  let dataDir: string;
  let cloud: CloudProcess;
  let key: string;
  let issuer: Awaited<ReturnType<typeof startFakeIssuer>>;
  let tokens: Awaited<ReturnType<typeof startFakeTokenServer>>;
  let send: Send;
  const ids: Record<string, string> = {};

  const admin = async (path: string, body: Record<string, unknown>) => {
    const response = await api(cloud.url, key, 'POST', `/api/v1/${path}`, body);
    if (response.status !== 201) throw new Error(`${path}: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body as { id: string };
  };

  beforeAll(async () => {
    issuer = await startFakeIssuer();
    tokens = await startFakeTokenServer('tessera-client', 'oauth-secret-e2e');
    dataDir = mkdtempSync(join(tmpdir(), 'tessera-e2e-edge-'));
    cloud = await startCloud(['--data', dataDir, '--plugin', PLUGIN]);
    key = cloud.bootstrapKey!;
    send = async (method, path, headers, body) => {
      const response = await fetch(`${cloud.url}${path}`, {
        method,
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: await response.json() };
    };

    const oidc = await admin('trust-providers', { name: 'ci-issuer', type: 'oidc', config: { issuer: issuer.issuer, discovery: true, algorithms: ['ES256'] } });
    const enrol = await admin('trust-providers', {
      name: 'enrolment',
      type: 'enrolment-token',
      config: { tokens: [{ name: 'edge-box-1', sha256: createHash('sha256').update(ENROLMENT_TOKEN).digest('hex') }] },
    });
    const client = await admin('client-workloads', { name: 'orders', identities: [{ claim: 'oidc.subject', value: 'orders-*' }] });
    const box = await admin('client-workloads', { name: 'edge-box', identities: [{ claim: 'enrolment.name', value: 'edge-box-1' }] });
    const header = { kind: 'header', name: 'authorization' };
    const server = (name: string, injection: Record<string, unknown> = header) =>
      admin('server-workloads', { name, host: `${name}.e2e.test`, port: 443, scheme: 'https', injection });
    const payments = await server('payments', { kind: 'header', name: 'x-api-key', format: '{token}' });
    const ledger = await server('ledger', { kind: 'basic' });
    const reports = await server('reports');
    const partner = await server('partner');
    const broken = await server('broken');
    const signed = await server('signed');
    const closed = await server('closed');
    const strict = await server('strict');
    await server('orphan');
    const keyProvider = await admin('credential-providers', { name: 'payments-key', type: 'api-key', secrets: { apiKey: API_KEY } });
    const basic = await admin('credential-providers', { name: 'ledger-basic', type: 'basic', config: { username: 'orders' }, secrets: { password: 'ledger-pw-e2e' } });
    const jwt = await admin('credential-providers', { name: 'reports-jwt', type: 'workload-jwt', config: { audience: 'https://reports.e2e.test', scopes: ['reports.read'] } });
    const oauth = await admin('credential-providers', {
      name: 'partner-oauth',
      type: 'oauth2-client-credentials',
      config: { tokenEndpoint: `${tokens.url}/token`, clientId: 'tessera-client', authMethod: 'client_secret_basic', scope: 'partner.read' },
      secrets: { clientSecret: 'oauth-secret-e2e' },
    });
    const dead = await admin('credential-providers', {
      name: 'dead-oauth',
      type: 'oauth2-client-credentials',
      config: { tokenEndpoint: 'http://127.0.0.1:9/token', clientId: 'x', authMethod: 'client_secret_basic', timeoutMs: 1000 },
      secrets: { clientSecret: 'dead-secret-e2e' },
    });
    const hmac = await admin('credential-providers', { name: 'signed-hmac', type: 'hmac-token', config: { lifetimeSeconds: 120 }, secrets: { key: 'hmac-key-e2e-0123456789' } });
    const localOnly = await admin('access-conditions', { name: 'loopback-only', type: 'source-ip', config: { allow: ['127.0.0.0/8', '::1'] } });
    const noLoopback = await admin('access-conditions', { name: 'no-loopback', type: 'source-ip', config: { deny: ['127.0.0.0/8', '::1'] } });
    const policy = (name: string, serverWorkloadId: string, credentialProviderId: string, extra: Record<string, unknown> = {}) =>
      admin('access-policies', { name, clientWorkloadIds: [client.id], serverWorkloadId, trustProviderIds: [oidc.id], credentialProviderId, ...extra });
    await policy('payments', payments.id, keyProvider.id, { accessConditionIds: [localOnly.id] });
    await policy('ledger', ledger.id, basic.id);
    await policy('reports', reports.id, jwt.id);
    await policy('partner', partner.id, oauth.id);
    await policy('broken', broken.id, dead.id);
    await policy('closed', closed.id, keyProvider.id, { accessConditionIds: [noLoopback.id] });
    await policy('strict', strict.id, keyProvider.id, { trustProviderIds: [enrol.id] });
    await admin('access-policies', { name: 'signed', clientWorkloadIds: [box.id], serverWorkloadId: signed.id, trustProviderIds: [enrol.id], credentialProviderId: hmac.id });
    Object.assign(ids, { client: client.id, set: (client as { id: string; resourceSetId?: string }).resourceSetId!, box: box.id, payments: payments.id, closed: closed.id });
  });

  afterAll(async () => {
    await cloud?.stop();
    await issuer?.close();
    await tokens?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function attested() {
    const sdk = await EdgeTestClient.create(cloud.url, send);
    const evidence = await issuer.sign({}, { audience: cloud.url, subject: 'orders-7f9c' });
    const response = await sdk.attest({ type: 'jwt', token: evidence });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    return sdk;
  }
  const target = (name: string, path = '/') => ({ scheme: 'https', host: `${name}.e2e.test`, port: 443, path });

  it('attests with an OIDC token found through discovery, bound to the SDK key', async () => {
    const sdk = await attested();
    const body = (await sdk.attest({ type: 'jwt', token: await issuer.sign({}, { audience: cloud.url, subject: 'orders-1' }) })).body;
    expect(body.clientWorkload).toEqual({ id: ids.client, name: 'orders' });
    expect(body.directory.map((d: { name: string }) => d.name).sort()).toEqual(['broken', 'closed', 'ledger', 'partner', 'payments', 'reports', 'strict']);
    expect(issuer.requests).toContain('/.well-known/openid-configuration');
  });

  it('issues an API key, basic credentials, a workload JWT and an OAuth2 token', async () => {
    const sdk = await attested();
    const payments = await sdk.credentials(target('payments', '/v1/charges'));
    expect(payments.body).toMatchObject({ credential: { kind: 'token', token: API_KEY }, injection: { kind: 'header', name: 'x-api-key', format: '{token}' } });
    const ledger = await sdk.credentials(target('ledger'));
    expect(ledger.body.credential).toEqual({ kind: 'basic', username: 'orders', password: 'ledger-pw-e2e' });

    const reports = await sdk.credentials(target('reports'));
    expect(reports.status).toBe(200);
    const jwks = createRemoteJWKSet(new URL(`${cloud.url}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(reports.body.credential.token, jwks, {
      issuer: cloud.url,
      audience: 'https://reports.e2e.test',
      algorithms: ['ES256'],
    });
    expect(payload).toMatchObject({ sub: `resource-set:${ids.set}:client-workload:${ids.client}`, resource_set: { id: ids.set, name: 'default' }, scope: 'reports.read', client_workload: 'orders', server_workload: 'reports' });

    const partner = await sdk.credentials(target('partner'));
    expect(partner.body.credential).toEqual({ kind: 'token', token: tokens.issued[0] });
    const again = await (await attested()).credentials(target('partner'));
    expect(again.body.credential.token).toBe(tokens.issued[0]);
    expect(tokens.issued).toHaveLength(1); // the cloud shares the token until most of its lifetime has passed
  });

  it('works end to end with a custom plugin’s trust and credential providers', async () => {
    const sdk = await EdgeTestClient.create(cloud.url, send);
    const attestation = await sdk.attest({ type: 'enrolment-token', token: ENROLMENT_TOKEN });
    expect(attestation.body.clientWorkload).toEqual({ id: ids.box, name: 'edge-box' });
    const signed = await sdk.credentials(target('signed'));
    const [name, expires, signature] = signed.body.credential.token.split('.');
    expect(name).toBe('edge-box');
    expect(signature).toBe(createHmac('sha256', 'hmac-key-e2e-0123456789').update(`${name}.${expires}`).digest('base64url'));
    expect((await EdgeTestClient.create(cloud.url, send).then((c) => c.attest({ type: 'enrolment-token', token: 'wrong' }))).body.code).toBe('evidence_invalid');
  });

  it.each([
    ['no_server_workload', 'nowhere'],
    ['no_matching_policy', 'orphan'],
    ['trust_provider_mismatch', 'strict'],
    ['condition_failed', 'closed'],
    ['credential_provider_error', 'broken'],
  ])('denies with %s', async (code, name) => {
    const sdk = await attested();
    const denied = await sdk.credentials(target(name));
    expect(denied.status).toBe(403);
    expect(denied.body.code).toBe(code);
    expect(JSON.stringify(denied.body)).not.toMatch(/dead-secret-e2e|sk_live/);
  });

  it('refuses evidence that is forged, expired, for another audience or of an unknown workload', async () => {
    const sdk = await EdgeTestClient.create(cloud.url, send);
    const attacker = await generateKeyPair('ES256');
    const cases: Array<[string, string]> = [
      ['evidence_invalid', await issuer.sign({}, { audience: cloud.url, subject: 'orders-1', key: attacker.privateKey })],
      ['evidence_invalid', await issuer.sign({}, { audience: 'https://elsewhere.test', subject: 'orders-1' })],
      ['evidence_expired', await issuer.sign({}, { audience: cloud.url, subject: 'orders-1', expiresIn: Math.floor(Date.now() / 1000) - 3600 })],
      ['no_client_workload', await issuer.sign({}, { audience: cloud.url, subject: 'billing-1' })],
    ];
    for (const [code, token] of cases) {
      const response = await sdk.attest({ type: 'jwt', token });
      expect(response.body.code, code).toBe(code);
      expect(JSON.stringify(response.body)).not.toContain(token);
    }
  });

  it('records every decision in the audit trail, never a credential', async () => {
    const events = await api(cloud.url, key, 'GET', `/api/v1/audit-events?kind=edge.credential&clientWorkloadId=${ids.client}&limit=500`);
    const seen = new Set(events.body.items.map((e: { outcome: string; reason: string | null }) => `${e.outcome}:${e.reason}`));
    for (const expected of ['allow:null', 'deny:no_server_workload', 'deny:no_matching_policy', 'deny:trust_provider_mismatch', 'deny:condition_failed', 'error:credential_provider_error']) {
      expect(seen, expected).toContain(expected);
    }
    const closed = events.body.items.find((e: { reason: string | null; serverWorkloadId: string }) => e.reason === 'condition_failed' && e.serverWorkloadId === ids.closed);
    expect(closed.data.conditions[0]).toMatchObject({ name: 'no-loopback', passed: false });
    const attests = await api(cloud.url, key, 'GET', '/api/v1/audit-events?kind=edge.attest&limit=500');
    const outcomes = new Set(attests.body.items.map((e: { reason: string | null }) => e.reason));
    for (const reason of [null, 'evidence_invalid', 'evidence_expired', 'no_client_workload']) expect(outcomes).toContain(reason);
    const all = JSON.stringify([events.body, attests.body]);
    for (const secret of [API_KEY, 'ledger-pw-e2e', 'oauth-secret-e2e', tokens.issued[0]!, ENROLMENT_TOKEN]) {
      expect(all.includes(secret)).toBe(false);
    }
  });
});
