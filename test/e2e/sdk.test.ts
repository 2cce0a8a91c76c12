import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startCloud, type CloudProcess } from './support/cloud-process.js';
import { startFakeIssuer } from './support/fake-services.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const AWS_PLUGIN = fileURLToPath(new URL('../fixtures/static-aws-keys/index.js', import.meta.url));
const PAYMENTS_KEY = 'sk_live_e2e_sdk_payments_41c9';
const AWS = { accessKeyId: 'ASIAE2ESDKTEMPKEY01', secretAccessKey: 'e2e-sdk-temporary-secret-key-0123456789', sessionToken: 'e2e-sdk-session-token-abcdefghijklmnop' };
const JWT_AUDIENCE = 'https://reports.e2e.test';
/** The workload JWT lives 60 s (its minimum); the client counts it expired 50 s early. */
const SKEW_SECONDS = 50;

interface Reply {
  ok: boolean;
  status?: number;
  body?: string;
  error?: { name?: string; code?: string; message: string; causeName?: string; causeCode?: string };
}

/**
 * The SDK as users run it: the cloud, the protected server workloads and a client workload are
 * separate processes on loopback. The client loads `--import @tessera/sdk/register`, has no
 * credential in its code or environment, and calls with plain fetch, axios and the AWS S3 client.
 */
describe('SDK end to end: zero-code client against real processes', () => {
  let dataDir: string;
  let cloud: CloudProcess;
  let services: ChildProcess;
  let ports: Record<'payments' | 'ledger' | 'reports' | 'echo' | 's3' | 'control', number>;
  let client: ChildProcess;
  let clientOutput = '';
  let issuer: Awaited<ReturnType<typeof startFakeIssuer>>;
  let nextId = 0;
  const pending = new Map<number, (reply: Reply) => void>();

  const call = (op: string, args: Record<string, unknown>): Promise<Reply> =>
    new Promise((resolve) => {
      const id = (nextId += 1);
      pending.set(id, resolve);
      client.send({ id, op, args });
    });
  const received = async (): Promise<any> => (await fetch(`http://127.0.0.1:${ports.control}/`)).json();
  const url = (service: keyof typeof ports, path: string) => `http://127.0.0.1:${ports[service]}${path}`;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'tessera-e2e-sdk-'));
    issuer = await startFakeIssuer();
    cloud = await startCloud(['--data', dataDir, '--plugin', AWS_PLUGIN]);
    const key = cloud.bootstrapKey!;

    services = spawn(process.execPath, [fileURLToPath(new URL('./support/protected-services.mjs', import.meta.url))], {
      env: {
        PATH: process.env.PATH,
        PAYMENTS_KEY,
        CLOUD_URL: cloud.url,
        JWT_AUDIENCE,
        AWS_ACCESS_KEY_ID_FAKE: AWS.accessKeyId,
        AWS_SECRET_FAKE: AWS.secretAccessKey,
        AWS_SESSION_TOKEN_FAKE: AWS.sessionToken,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    ports = await new Promise((resolve, reject) => {
      let out = '';
      services.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]!));
      });
      services.on('exit', (code) => reject(new Error(`protected services exited with ${code}`)));
    });

    const admin = async (path: string, body: Record<string, unknown>) => {
      const response = await api(cloud.url, key, 'POST', `/api/v1/${path}`, body);
      if (response.status !== 201) throw new Error(`${path}: ${response.status} ${JSON.stringify(response.body)}`);
      return response.body as { id: string };
    };
    const trust = await admin('trust-providers', { name: 'cluster', type: 'oidc', config: { issuer: issuer.issuer, discovery: true, algorithms: ['ES256'] } });
    const orders = await admin('client-workloads', { name: 'orders', identities: [{ claim: 'oidc.subject', value: 'system:serviceaccount:shop:orders' }] });
    const server = (name: string, port: number, injection: Record<string, unknown>) =>
      admin('server-workloads', { name, scheme: 'http', host: '127.0.0.1', port, injection });
    const bearer = { kind: 'header', name: 'authorization' };
    const payments = await server('payments', ports.payments, bearer);
    const ledger = await server('ledger', ports.ledger, bearer);
    const reports = await server('reports', ports.reports, bearer);
    const s3 = await server('s3', ports.s3, { kind: 'aws-sigv4', region: 'us-east-1', service: 's3' });
    const apiKey = await admin('credential-providers', { name: 'payments-key', type: 'api-key', secrets: { apiKey: PAYMENTS_KEY } });
    const jwt = await admin('credential-providers', { name: 'reports-jwt', type: 'workload-jwt', config: { audience: JWT_AUDIENCE, lifetimeSeconds: 60 } });
    const aws = await admin('credential-providers', { name: 's3-keys', type: 'static-aws-keys', config: { lifetimeSeconds: 900 }, secrets: AWS });
    const at = new Date(Date.now() + 12 * 3600_000);
    const hhmm = (d: Date) => `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
    const night = await admin('access-conditions', { name: 'night-only', type: 'time-window', config: { timeZone: 'UTC', start: hhmm(at), end: hhmm(new Date(at.getTime() + 60_000)) } });
    const policy = (name: string, serverWorkloadId: string, credentialProviderId: string, extra: Record<string, unknown> = {}) =>
      admin('access-policies', { name, clientWorkloadIds: [orders.id], serverWorkloadId, trustProviderIds: [trust.id], credentialProviderId, ...extra });
    await policy('orders-payments', payments.id, apiKey.id);
    await policy('orders-ledger', ledger.id, apiKey.id, { accessConditionIds: [night.id] });
    await policy('orders-reports', reports.id, jwt.id);
    await policy('orders-s3', s3.id, aws.id);

    // The projected service-account token a kubelet would mount, for the cloud's audience.
    const tokenFile = join(dataDir, 'token');
    writeFileSync(tokenFile, await issuer.sign({}, { audience: cloud.url, subject: 'system:serviceaccount:shop:orders' }));
    client = fork(fileURLToPath(new URL('./support/sdk-client.mjs', import.meta.url)), [], {
      cwd: ROOT,
      execArgv: ['--import', '@tessera/sdk/register'],
      env: {
        PATH: process.env.PATH,
        TESSERA_CLOUD_URL: cloud.url,
        TESSERA_OIDC_TOKEN_FILE: tokenFile,
        TESSERA_SKEW_SECONDS: String(SKEW_SECONDS),
        TESSERA_DEADLINE_MS: '1500',
        TESSERA_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    client.stdout!.on('data', (chunk: Buffer) => (clientOutput += chunk.toString()));
    client.stderr!.on('data', (chunk: Buffer) => (clientOutput += chunk.toString()));
    await new Promise<void>((resolve, reject) => {
      client.on('message', (message: { ready?: boolean; id?: number } & Reply) => {
        if (message.ready) resolve();
        else pending.get(message.id!)?.(message);
      });
      client.on('exit', (code) => reject(new Error(`client exited with ${code}:\n${clientOutput}`)));
    });
  });

  afterAll(async () => {
    client?.kill();
    services?.kill();
    await cloud?.stop();
    await issuer?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    // Nothing the client printed holds a credential.
    for (const secret of [PAYMENTS_KEY, AWS.secretAccessKey, AWS.sessionToken]) expect(clientOutput).not.toContain(secret);
  });

  it('allowed calls with fetch and axios arrive with the right credential', async () => {
    const viaFetch = await call('fetch', { url: url('payments', '/v1/charges') });
    expect(viaFetch).toMatchObject({ ok: true, status: 200 });
    const viaAxios = await call('axios', { url: url('payments', '/v1/refunds') });
    expect(viaAxios).toMatchObject({ ok: true, status: 200 });
    const reports = await call('fetch', { url: url('reports', '/v1/daily') });
    expect(reports).toMatchObject({ ok: true, status: 200 });
    expect(JSON.parse(reports.body!).subject).toBeTruthy(); // a JWT the cloud signed, verified by the API

    const seen = await received();
    expect(seen.payments.map((r: { url: string }) => r.url)).toEqual(['/v1/charges', '/v1/refunds']);
    for (const request of seen.payments) expect(request.authorization).toEqual([`Bearer ${PAYMENTS_KEY}`]);
  });

  it('the AWS S3 client signs with placeholders; the SDK re-signs with the issued keys (SigV4 checked)', async () => {
    const put = await call('s3Put', { endpoint: url('s3', ''), bucket: 'orders', key: 'receipts/1.json', text: '{"total":42}' });
    expect(put).toMatchObject({ ok: true, status: 200 });
    const get = await call('s3Get', { endpoint: url('s3', ''), bucket: 'orders', key: 'receipts/1.json' });
    expect(get).toMatchObject({ ok: true, status: 200, body: '{"total":42}' });
    const seen = await received();
    expect(seen.s3.length).toBeGreaterThanOrEqual(2);
    for (const request of seen.s3) expect(request).toMatchObject({ verified: true });
  });

  it('a denied call is never received by the server; the caller gets the cloud’s reason', async () => {
    const before = await received();
    const denied = await call('fetch', { url: url('ledger', '/v1/entries') });
    expect(denied.ok).toBe(false);
    expect(denied.error).toMatchObject({ name: 'TypeError', causeName: 'TesseraAccessDeniedError', causeCode: 'condition_failed' });
    const viaAxios = await call('axios', { url: url('ledger', '/v1/entries') });
    expect(viaAxios.ok).toBe(false);
    expect(viaAxios.error?.causeCode ?? viaAxios.error?.code).toBe('condition_failed');
    const after = await received();
    expect(after.ledger).toEqual([]);
    expect(after.connections.ledger).toBe(before.connections.ledger);
  });

  it('an unmanaged call arrives byte for byte unchanged', async () => {
    const body = Buffer.from('{"exact":"bytes","unicode":"\u00e9\u4e2d"}\n');
    const reply = await call('fetch', {
      url: url('echo', '/hook?sig=abc%20def'),
      method: 'POST',
      body: body.toString('base64'),
      headers: { 'content-type': 'application/json', authorization: 'Bearer app-own-token', 'x-request-id': 'r-1' },
    });
    expect(reply).toMatchObject({ ok: true, status: 200 });
    const raw = Buffer.from((await received()).echo.at(-1).raw, 'base64').toString('latin1');
    const [head, sent] = raw.split('\r\n\r\n');
    const lines = head!.split('\r\n');
    expect(lines[0]).toBe('POST /hook?sig=abc%20def HTTP/1.1');
    expect(lines).toContain('authorization: Bearer app-own-token');
    expect(lines).toContain('x-request-id: r-1');
    expect(lines.filter((line) => line.toLowerCase().startsWith('authorization:'))).toHaveLength(1);
    expect(Buffer.from(sent!, 'latin1').equals(body)).toBe(true);
  });

  it('with the cloud stopped, cached credentials work until they expire, then calls fail closed', async () => {
    // Fresh credentials for reports (JWT, usable 10 s) and payments (static key, usable 250 s).
    expect(await call('fetch', { url: url('reports', '/v1/warm') })).toMatchObject({ status: 200 });
    const issuedAt = Date.now();
    await cloud.stop();

    expect(await call('fetch', { url: url('payments', '/v1/offline') })).toMatchObject({ ok: true, status: 200 });
    expect(await call('fetch', { url: url('reports', '/v1/offline') })).toMatchObject({ ok: true, status: 200 });

    // Past the JWT's usable life (60 s − 50 s skew), with no cloud to renew it: fail closed.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, issuedAt + (60 - SKEW_SECONDS) * 1000 + 500 - Date.now())));
    const reportsBefore = (await received()).reports.length;
    const closed = await call('fetch', { url: url('reports', '/v1/after-expiry') });
    expect(closed.ok).toBe(false);
    expect(closed.error).toMatchObject({ causeName: 'TesseraUnavailableError', causeCode: 'cloud_unavailable' });
    expect((await received()).reports.length).toBe(reportsBefore);
    // The static key is still within its life.
    expect(await call('fetch', { url: url('payments', '/v1/still-cached') })).toMatchObject({ ok: true, status: 200 });
  });
});
