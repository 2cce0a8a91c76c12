import diagnostics from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import axios, { AxiosError } from 'axios';
import got, { RequestError } from 'got';
import nodeFetch, { FetchError } from 'node-fetch';
import { fetch as undiciFetch, request as undiciRequest } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultProxy, IDP_ISSUER, startTestCloud, testCollector, TestIdp, type TestCloud } from '../../test/support/test-cloud.js';
import { TesseraAccessDeniedError } from '../errors.js';
import { init, shutdown } from '../init.js';
import { startFakeS3, type FakeS3, type FakeS3Credential } from '../../test/support/fake-s3.js';
import { captureLogs, headerValues, startTarget, type ReceivedRequest, type TargetServer } from '../../test/support/world.js';

/**
 * The HTTP clients applications really use, with Tessera started by `init()` (global
 * interception: the undici global dispatcher and `node:http`), against a real control plane on
 * loopback, real target servers and a fake S3 that verifies SigV4. For each client: a managed
 * call carries the credential exactly once, an unmanaged call goes out byte-for-byte as it does
 * without Tessera and costs no cloud call, and a denied call opens no connection and surfaces
 * the access-denied error the way that client surfaces network errors:
 *
 * | client                  | a denied call rejects with                                               |
 * | ----------------------- | ------------------------------------------------------------------------ |
 * | built-in fetch          | `TypeError('fetch failed')`, `cause`: the TesseraAccessDeniedError        |
 * | undici `request`        | the TesseraAccessDeniedError itself                                      |
 * | undici `fetch`          | `TypeError('fetch failed')`, `cause`: the TesseraAccessDeniedError        |
 * | axios                   | `AxiosError` (`code` copied), `cause`: the TesseraAccessDeniedError       |
 * | got                     | `RequestError` (`code` copied), `cause`: the TesseraAccessDeniedError     |
 * | node-fetch 3            | `FetchError` type `system`, `code`/`errno` copied, message quoted; no `cause`: node-fetch drops the error |
 * | AWS SDK v3 (S3 client)  | the TesseraAccessDeniedError itself, tagged with `$metadata` (1 attempt)  |
 */

const AWS_PLUGIN = fileURLToPath(new URL('../../../../test/fixtures/static-aws-keys/index.js', import.meta.url));
const API_KEY = 'sk_live_clients_5e2a_never_in_logs';
/** What the `static-aws-keys` provider hands out, as an STS would: the fake S3 knows them. */
const AWS = {
  accessKeyId: 'ASIACLIENTSTESTKEY01',
  secretAccessKey: 'clients-test/secret+access+key0123456789',
  sessionToken: 'clients-test-session-token-abcdefghijklmnop==',
} satisfies FakeS3Credential;
/** The application's own keys for an S3 that is not managed by Tessera. */
const OWN_S3: FakeS3Credential = { accessKeyId: 'AKIAUNMANAGEDS3KEY01', secretAccessKey: 'unmanaged/own+secret+key0123456789abcdefgh' };
const PLACEHOLDERS = { accessKeyId: 'placeholder', secretAccessKey: 'placeholder' };
const BUCKET = 'clients-bucket';

let idp: TestIdp;
let proxy: FaultProxy;
let cloud: TestCloud;
let api: TargetServer;
/** Managed like `api`, one per client, first called by that client: no credential cached yet. */
const cold: Record<string, TargetServer> = {};
const COLD_CLIENTS = ['fetch', 'undici.request', 'axios', 'got', 'node-fetch'];
let denied: TargetServer;
let unmanaged: TargetServer;
let s3: FakeS3;
let ownS3: FakeS3;
const s3Clients: S3Client[] = [];

const { logger, lines: logLines } = captureLogs();
/** Everything printed, published or thrown during the file, searched for secrets at the end. */
const observed: string[] = [];
const onWarning = (warning: Error) => observed.push(inspect(warning, { depth: 8 }));
const tesseraChannels = ['tessera:attest', 'tessera:credential', 'tessera:request:denied', 'tessera:request:finished', 'tessera:fail-open'];
const onTesseraMessage = (message: unknown, name: string | symbol) => observed.push(`${String(name)} ${inspect(message, { depth: 8 })}`);

/**
 * Raw request headers as they reached the managed fake S3 (its records keep Node's parsed form,
 * which would hide a repeated Authorization), from Node's `http.server.request.start` channel.
 */
const s3RawHeaders: Array<{ method: string; url: string; rawHeaders: string[] }> = [];
const onServerRequest = (message: unknown) => {
  const { request, socket } = message as { request: IncomingMessage; socket: Socket };
  if (socket.localPort !== s3.port) return;
  s3RawHeaders.push({ method: request.method ?? '', url: request.url ?? '', rawHeaders: request.rawHeaders });
};

/** Unmanaged requests made before `init()`, by client: what the target got without Tessera. */
const baseline = new Map<string, ReceivedRequest>();

const UNMANAGED_BODY = Buffer.from('exact bytes \u00e9\r\n{"a":1}');
const UNMANAGED_HEADERS = { 'X-Case': 'Kept', Authorization: 'Bearer app-own-token', 'content-type': 'application/x-test' };
/** Each client's unmanaged PUT; the same call is made before and after `init()`. */
const unmanagedCalls: Record<string, (url: string) => Promise<unknown>> = {
  fetch: (url) => fetch(url, { method: 'PUT', headers: UNMANAGED_HEADERS, body: UNMANAGED_BODY }).then((r) => r.text()),
  'undici.request': (url) => undiciRequest(url, { method: 'PUT', headers: UNMANAGED_HEADERS, body: UNMANAGED_BODY }).then((r) => r.body.text()),
  'undici.fetch': (url) => undiciFetch(url, { method: 'PUT', headers: UNMANAGED_HEADERS, body: UNMANAGED_BODY }).then((r) => r.text()),
  axios: (url) => axios.put(url, UNMANAGED_BODY, { headers: UNMANAGED_HEADERS }),
  got: (url) => got.put(url, { headers: UNMANAGED_HEADERS, body: UNMANAGED_BODY }).text(),
  'node-fetch': (url) => nodeFetch(url, { method: 'PUT', headers: UNMANAGED_HEADERS, body: UNMANAGED_BODY }).then((r) => r.text()),
};

function cloudCalls(): number {
  let total = 0;
  for (const count of proxy.counts.values()) total += count;
  return total;
}

function receivedAt(target: TargetServer, url: string): ReceivedRequest[] {
  return target.received.filter((request) => request.url === url);
}

/** The one request a call made to `url`: it arrived exactly once. */
function single(target: TargetServer, url: string): ReceivedRequest {
  const matching = receivedAt(target, url);
  expect(matching).toHaveLength(1);
  return matching[0]!;
}

/** A managed call: arrived once, with the Tessera credential as its only Authorization. */
function expectManaged(url: string, body?: string, target: TargetServer = api): void {
  const received = single(target, url);
  expect(headerValues(received, 'authorization')).toEqual([`Bearer ${API_KEY}`]);
  expect(headerValues(received, 'x-app')).toEqual(['kept']);
  if (body !== undefined) expect(received.body.toString()).toBe(body);
}

/**
 * A managed call made twice: to the client's own target first, whose credential is fetched while
 * the request waits (one cloud call), then to `api`, whose credential is cached (none). Each
 * arrives once, the credential replacing the Authorization the application set.
 */
async function expectManagedColdAndWarm(client: string, path: string, body: string | undefined, call: (url: string) => Promise<unknown>): Promise<void> {
  for (const [target, cloudCallsExpected] of [[cold[client]!, 1], [api, 0]] as const) {
    const asked = proxy.count('/edge/v1/credentials');
    await call(`${target.url}${path}`);
    expect(proxy.count('/edge/v1/credentials')).toBe(asked + cloudCallsExpected);
    expectManaged(path, body, target);
  }
}

/** An unmanaged call: the same method, path, raw headers (names, case, order) and body as without Tessera. */
function expectUntouched(client: string, url: string): void {
  const before = baseline.get(client)!;
  const after = single(unmanaged, url);
  expect(after.method).toBe('PUT');
  expect(after.method).toBe(before.method);
  expect(after.rawHeaders).toEqual(before.rawHeaders);
  expect(after.body.equals(UNMANAGED_BODY)).toBe(true);
  expect(headerValues(after, 'authorization')).toEqual(['Bearer app-own-token']);
}

/** The rejection of `attempt`, recorded (inspected deeply) for the leak check. */
async function rejection(attempt: Promise<unknown>): Promise<any> {
  const error = await attempt.then(
    () => expect.unreachable('the call should have failed'),
    (thrown: unknown) => thrown,
  );
  observed.push(inspect(error, { depth: 10, showHidden: false }));
  return error;
}

/** `error`, its `cause`, the cause's cause ...: the chain an application can walk. */
function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let at = error; at !== undefined && at !== null && chain.length < 10; at = (at as { cause?: unknown }).cause) chain.push(at);
  return chain;
}

/** A denied call: nothing reached the target, not even a TCP connection. */
async function expectDenied(path: string, call: (url: string) => Promise<unknown>): Promise<any> {
  const connections = denied.connections;
  const received = denied.received.length;
  const asked = proxy.count('/edge/v1/credentials');
  const error = await rejection(call(`${denied.url}${path}`));
  expect(denied.connections).toBe(connections);
  expect(denied.received.length).toBe(received);
  // One attempt: the client did not retry the denied call.
  expect(observed.filter((line) => line.startsWith('tessera:request:denied') && line.includes(path))).toHaveLength(1);
  // At most one refusal from the cloud: a refusal of this target is remembered for 5 s.
  expect(proxy.count('/edge/v1/credentials')).toBeLessThanOrEqual(asked + 1);
  return error;
}

function expectDeniedCause(cause: unknown): void {
  expect(cause).toBeInstanceOf(TesseraAccessDeniedError);
  expect((cause as TesseraAccessDeniedError).code).toBe('condition_failed');
}

function s3Client(endpoint: string, credentials: FakeS3Credential = PLACEHOLDERS): S3Client {
  const client = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials });
  s3Clients.push(client);
  return client;
}

/** A deterministic body of `size` bytes, produced in 16 KiB chunks. */
function patternStream(size: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= size) return void this.push(null);
      const length = Math.min(16 * 1024, size - sent);
      const chunk = Buffer.alloc(length);
      for (let i = 0; i < length; i++) chunk[i] = (sent + i) % 251;
      sent += length;
      this.push(chunk);
    },
  });
}

function pattern(size: number): Buffer {
  const buffer = Buffer.alloc(size);
  for (let i = 0; i < size; i++) buffer[i] = i % 251;
  return buffer;
}

beforeAll(async () => {
  idp = new TestIdp();
  proxy = new FaultProxy();
  await proxy.listen();
  cloud = await startTestCloud(proxy.url, [AWS_PLUGIN]);
  proxy.upstream = cloud.server.listeningUrl;
  [api, denied, unmanaged] = await Promise.all([startTarget(), startTarget(), startTarget()]);
  for (const client of COLD_CLIENTS) cold[client] = await startTarget();
  [s3, ownS3] = await Promise.all([startFakeS3({ credentials: [AWS] }), startFakeS3({ credentials: [OWN_S3] })]);

  const post = (plural: string, body: object) => cloud.admin('POST', `/api/v1/${plural}`, body);
  const trust = await post('trust-providers', { name: 'idp', type: 'oidc', config: { issuer: IDP_ISSUER, jwks: { keys: [idp.publicJwk] }, algorithms: ['ES256'] } });
  const payments = await post('client-workloads', { name: 'payments', identities: [{ claim: 'oidc.subject', value: 'svc-payments' }] });
  const server = (name: string, port: number, injection: object) => post('server-workloads', { name, scheme: 'http', host: '127.0.0.1', port, injection });
  const key = await post('credential-providers', { name: 'key', type: 'api-key', secrets: { apiKey: API_KEY } });
  const awsKeys = await post('credential-providers', { name: 's3-keys', type: 'static-aws-keys', config: { lifetimeSeconds: 900 }, secrets: AWS });
  const policy = (name: string, serverWorkloadId: string, credentialProviderId: string, extra: object = {}) =>
    post('access-policies', { name, clientWorkloadIds: [payments.id], serverWorkloadId, trustProviderIds: [trust.id], credentialProviderId, ...extra });
  const apiServer = await server('api', api.port, { kind: 'header', name: 'authorization' });
  const deniedServer = await server('denied-api', denied.port, { kind: 'header', name: 'authorization' });
  const s3Server = await server('s3', s3.port, { kind: 'aws-sigv4', region: 'us-east-1', service: 's3' });
  // A time window that opens 12 hours from now: closed now, so the cloud refuses with condition_failed.
  const at = new Date(Date.now() + 12 * 3600_000);
  const hhmm = (d: Date) => `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
  const window = await post('access-conditions', { name: 'night-shift', type: 'time-window', config: { timeZone: 'UTC', start: hhmm(at), end: hhmm(new Date(at.getTime() + 60_000)) } });
  await policy('api', apiServer.id, key.id);
  await policy('denied', deniedServer.id, key.id, { accessConditionIds: [window.id] });
  await policy('s3', s3Server.id, awsKeys.id);
  for (const client of COLD_CLIENTS) {
    const coldServer = await server(`cold-${client}`, cold[client]!.port, { kind: 'header', name: 'authorization' });
    await policy(`cold-${client}`, coldServer.id, key.id);
  }

  // What every client sends to an unmanaged target without Tessera, to compare with later.
  for (const [client, call] of Object.entries(unmanagedCalls)) {
    const url = `/baseline/${client}?q=1`;
    await call(`${unmanaged.url}${url}`);
    baseline.set(client, single(unmanaged, url));
  }

  diagnostics.subscribe('http.server.request.start', onServerRequest);
  for (const name of tesseraChannels) diagnostics.subscribe(name, onTesseraMessage);
  process.on('warning', onWarning);
  await init({ cloudUrl: proxy.url, collectors: [testCollector(idp, { subject: 'svc-payments' })], logger, deadlineMs: 3000, events: { flushIntervalMs: 0 } });
  await (await fetch(`${api.url}/warm`)).text(); // api's credential is cached from here on
}, 30_000);

afterAll(async () => {
  await shutdown();
  for (const client of s3Clients) client.destroy();
  diagnostics.unsubscribe('http.server.request.start', onServerRequest);
  for (const name of tesseraChannels) diagnostics.unsubscribe(name, onTesseraMessage);
  process.off('warning', onWarning);
  await Promise.all([api, denied, unmanaged, ...Object.values(cold)].map((target) => target?.close()));
  await Promise.all([s3?.close(), ownS3?.close()]);
  await proxy?.close();
  await cloud?.close();
  // No credential, edge token or evidence in anything logged, published or thrown.
  const text = [...logLines, ...observed].join('\n');
  expect(observed.length).toBeGreaterThan(0);
  for (const secret of [API_KEY, AWS.secretAccessKey, AWS.sessionToken, ...proxy.edgeTokens, ...idp.minted]) expect(text).not.toContain(secret);
});

describe("Node's built-in fetch", () => {
  it('managed: the credential replaces the Authorization the application set (fetched, then cached)', async () => {
    await expectManagedColdAndWarm('fetch', '/managed/fetch?x=1', 'fetch body', async (url) => {
      const response = await fetch(url, { method: 'POST', headers: { Authorization: 'Bearer app-set', 'x-app': 'kept' }, body: 'fetch body' });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ ok: true });
    });
  });

  it('unmanaged: sent as without Tessera, no cloud call', async () => {
    const calls = cloudCalls();
    await unmanagedCalls.fetch!(`${unmanaged.url}/unmanaged/fetch?q=1`);
    expectUntouched('fetch', '/unmanaged/fetch?q=1');
    expect(cloudCalls()).toBe(calls);
  });

  it('denied: TypeError("fetch failed") whose cause is the TesseraAccessDeniedError', async () => {
    const error = await expectDenied('/denied/fetch', (url) => fetch(url));
    expect(error).toBeInstanceOf(TypeError);
    expect(error.message).toBe('fetch failed');
    expectDeniedCause(error.cause);
  });
});

describe('npm undici', () => {
  it('managed: request and fetch (fetched, then cached)', async () => {
    await expectManagedColdAndWarm('undici.request', '/managed/undici-request', 'request body', async (url) => {
      const answer = await undiciRequest(url, { method: 'POST', headers: { authorization: 'Bearer app-set', 'x-app': 'kept' }, body: 'request body' });
      expect(answer.statusCode).toBe(200);
      expect(await answer.body.json()).toEqual({ ok: true });
    });

    const response = await undiciFetch(`${api.url}/managed/undici-fetch`, { headers: { AUTHORIZATION: 'Bearer app-set', 'x-app': 'kept' } });
    expect(response.status).toBe(200);
    await response.text();
    expectManaged('/managed/undici-fetch');
  });

  it('unmanaged: request and fetch sent as without Tessera, no cloud call', async () => {
    const calls = cloudCalls();
    await unmanagedCalls['undici.request']!(`${unmanaged.url}/unmanaged/undici-request?q=1`);
    await unmanagedCalls['undici.fetch']!(`${unmanaged.url}/unmanaged/undici-fetch?q=1`);
    expectUntouched('undici.request', '/unmanaged/undici-request?q=1');
    expectUntouched('undici.fetch', '/unmanaged/undici-fetch?q=1');
    expect(cloudCalls()).toBe(calls);
  });

  it('denied: request rejects with the TesseraAccessDeniedError itself; fetch with a TypeError whose cause it is', async () => {
    const viaRequest = await expectDenied('/denied/undici-request', (url) => undiciRequest(url));
    expectDeniedCause(viaRequest);

    const viaFetch = await expectDenied('/denied/undici-fetch', (url) => undiciFetch(url));
    expect(viaFetch).toBeInstanceOf(TypeError);
    expectDeniedCause(viaFetch.cause);
  });
});

describe('axios (node:http adapter)', () => {
  it('managed: the credential replaces the Authorization the application set (fetched, then cached)', async () => {
    await expectManagedColdAndWarm('axios', '/managed/axios', 'axios body', async (url) => {
      const response = await axios.post(url, 'axios body', { headers: { Authorization: 'Bearer app-set', 'x-app': 'kept', 'content-type': 'text/plain' } });
      expect(response.status).toBe(200);
      expect(response.data).toEqual({ ok: true });
    });
  });

  it('unmanaged: sent as without Tessera, no cloud call', async () => {
    const calls = cloudCalls();
    await unmanagedCalls.axios!(`${unmanaged.url}/unmanaged/axios?q=1`);
    expectUntouched('axios', '/unmanaged/axios?q=1');
    expect(cloudCalls()).toBe(calls);
  });

  it('denied: AxiosError whose cause is the TesseraAccessDeniedError', async () => {
    const error = await expectDenied('/denied/axios', (url) => axios.get(url));
    expect(error).toBeInstanceOf(AxiosError);
    expect(error.response).toBeUndefined();
    expect(error.code).toBe('condition_failed'); // axios copies the cause's own fields
    expectDeniedCause(error.cause);
  });
});

describe('got', () => {
  it('managed: the credential replaces the Authorization the application set (fetched, then cached)', async () => {
    await expectManagedColdAndWarm('got', '/managed/got', 'got body', async (url) => {
      expect(await got.post(url, { headers: { authorization: 'Bearer app-set', 'x-app': 'kept' }, body: 'got body' }).json()).toEqual({ ok: true });
    });
  });

  it('unmanaged: sent as without Tessera, no cloud call', async () => {
    const calls = cloudCalls();
    await unmanagedCalls.got!(`${unmanaged.url}/unmanaged/got?q=1`);
    expectUntouched('got', '/unmanaged/got?q=1');
    expect(cloudCalls()).toBe(calls);
  });

  it('denied: RequestError whose cause is the TesseraAccessDeniedError', async () => {
    const error = await expectDenied('/denied/got', (url) => got(url));
    expect(error).toBeInstanceOf(RequestError);
    expect(error.code).toBe('condition_failed');
    expectDeniedCause(error.cause);
  });
});

describe('node-fetch v3', () => {
  it('managed: the credential replaces the Authorization the application set (fetched, then cached)', async () => {
    await expectManagedColdAndWarm('node-fetch', '/managed/node-fetch', 'node-fetch body', async (url) => {
      const response = await nodeFetch(url, { method: 'POST', headers: { Authorization: 'Bearer app-set', 'x-app': 'kept' }, body: 'node-fetch body' });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ ok: true });
    });
  });

  it('unmanaged: sent as without Tessera, no cloud call', async () => {
    const calls = cloudCalls();
    await unmanagedCalls['node-fetch']!(`${unmanaged.url}/unmanaged/node-fetch?q=1`);
    expectUntouched('node-fetch', '/unmanaged/node-fetch?q=1');
    expect(cloudCalls()).toBe(calls);
  });

  it("denied: FetchError of type 'system' carrying the code and message, but not the error object", async () => {
    const error = await expectDenied('/denied/node-fetch', (url) => nodeFetch(url));
    expect(error).toBeInstanceOf(FetchError);
    expect(error.type).toBe('system');
    expect(error.code).toBe('condition_failed');
    expect(error.errno).toBe('condition_failed');
    expect(error.message).toContain('failed, reason: Tessera denied access');
    // node-fetch 3 copies `code` from the socket-level error and drops the error itself: no
    // `cause`, so `instanceof TesseraAccessDeniedError` is out of reach; `code` is what is left.
    expect(causeChain(error).some((link) => link instanceof TesseraAccessDeniedError)).toBe(false);
  });
});

describe('AWS SDK v3 S3 client (path-style, placeholder keys)', () => {
  /** On the wire: one Authorization, signed with the issued keys (the placeholder signature was replaced, not added to). */
  function expectSignedOnce(method: string, path: string): void {
    const matching = s3RawHeaders.filter((r) => r.method === method && r.url.split('?')[0] === path);
    expect(matching).toHaveLength(1);
    const raw = matching[0]!.rawHeaders;
    const authorization: string[] = [];
    for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === 'authorization') authorization.push(raw[i + 1]!);
    expect(authorization).toHaveLength(1);
    expect(authorization[0]).toMatch(new RegExp(`^AWS4-HMAC-SHA256 Credential=${AWS.accessKeyId}/\\d{8}/us-east-1/s3/aws4_request, `));
    expect(raw.join('\n')).not.toContain('placeholder');
  }

  function expectVerified(requests: FakeS3['requests']): void {
    for (const request of requests) {
      expect(request.error).toBeUndefined();
      expect(request.verified).toBe(true);
      expect(request.headers['x-amz-security-token']).toBe(AWS.sessionToken);
    }
  }

  it('managed: PutObject (string, Buffer) and GetObject, signed with the issued keys and verified by the fake', async () => {
    const client = s3Client(s3.url);
    const from = s3.requests.length;
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'text.txt', Body: 'hello from the S3 client' }));
    const binary = pattern(300 * 1024);
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'dir/binary.bin', Body: binary }));
    const text = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'text.txt' }));
    expect(await text.Body!.transformToString()).toBe('hello from the S3 client');
    const bytes = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'dir/binary.bin' }));
    expect(Buffer.from(await bytes.Body!.transformToByteArray()).equals(binary)).toBe(true);

    const requests = s3.requests.slice(from);
    expect(requests.map((r) => `${r.method} ${r.path.split('?')[0]}`)).toEqual([
      `PUT /${BUCKET}/text.txt`,
      `PUT /${BUCKET}/dir/binary.bin`,
      `GET /${BUCKET}/text.txt`,
      `GET /${BUCKET}/dir/binary.bin`,
    ]);
    expectVerified(requests);
    expect(s3.objects.get(`${BUCKET}/text.txt`)!.toString()).toBe('hello from the S3 client');
    expect(s3.objects.get(`${BUCKET}/dir/binary.bin`)!.equals(binary)).toBe(true);
    expectSignedOnce('PUT', `/${BUCKET}/text.txt`);
    expectSignedOnce('PUT', `/${BUCKET}/dir/binary.bin`);
    expectSignedOnce('GET', `/${BUCKET}/text.txt`);
    expectSignedOnce('GET', `/${BUCKET}/dir/binary.bin`);
  });

  it('managed: a streamed PutObject (Readable with ContentLength) goes out aws-chunked, signed as sent', async () => {
    const client = s3Client(s3.url);
    const from = s3.requests.length;
    const size = 1024 * 1024 + 7;
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'streamed.bin', Body: patternStream(size), ContentLength: size }));
    const requests = s3.requests.slice(from);
    expect(requests).toHaveLength(1);
    expectVerified(requests);
    // The client's flexible checksums: an aws-chunked body with a CRC32 trailer, which the fake checks.
    expect(requests[0]!.headers['x-amz-content-sha256']).toBe('STREAMING-UNSIGNED-PAYLOAD-TRAILER');
    expect(requests[0]!.headers['content-encoding']).toBe('aws-chunked');
    expect(s3.objects.get(`${BUCKET}/streamed.bin`)!.equals(pattern(size))).toBe(true);
    expectSignedOnce('PUT', `/${BUCKET}/streamed.bin`);
  });

  it('managed: a streamed PutObject over 8 MiB (Expect: 100-continue, signed before the body is complete)', async () => {
    const client = s3Client(s3.url);
    const from = s3.requests.length;
    const size = 10 * 1024 * 1024 + 3;
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'large.bin', Body: patternStream(size), ContentLength: size }));
    const requests = s3.requests.slice(from);
    expect(requests).toHaveLength(1);
    expectVerified(requests);
    expect(requests[0]!.headers.expect).toBe('100-continue');
    expect(s3.objects.get(`${BUCKET}/large.bin`)!.equals(pattern(size))).toBe(true);
    expectSignedOnce('PUT', `/${BUCKET}/large.bin`);
    s3.objects.delete(`${BUCKET}/large.bin`);
  });

  it("managed, without the AWS SDK: fetch and axios PUT the issue's awkward key with a string body — signed over the canonical path and the body's hash, the path sent as written", async () => {
    const from = s3.requests.length;
    const path = `/${BUCKET}/test$file%20(1)!'*@,.txt`;
    const response = await fetch(`${s3.url}${path}`, { method: 'PUT', body: 'from fetch' });
    expect(response.status).toBe(200);
    await response.text();
    const viaAxios = await axios.put(`${s3.url}/${BUCKET}/plus+sign%7E.txt`, 'from axios', { headers: { 'content-type': 'text/plain' } });
    expect(viaAxios.status).toBe(200);

    const requests = s3.requests.slice(from);
    expect(requests.map((r) => r.path)).toEqual([path, `/${BUCKET}/plus+sign%7E.txt`]);
    expectVerified(requests);
    for (const request of requests) expect(request.headers['x-amz-content-sha256']).toMatch(/^[0-9a-f]{64}$/);
    expect(s3.objects.get(`${BUCKET}/test$file (1)!'*@,.txt`)!.toString()).toBe('from fetch');
    expect(s3.objects.get(`${BUCKET}/plus+sign~.txt`)!.toString()).toBe('from axios');
  });

  it('unmanaged: the application signs with its own keys, untouched, no cloud call', async () => {
    const client = s3Client(ownS3.url, OWN_S3);
    const calls = cloudCalls();
    const from = ownS3.requests.length;
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'own.txt', Body: 'own keys' }));
    const answer = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'own.txt' }));
    expect(await answer.Body!.transformToString()).toBe('own keys');
    const requests = ownS3.requests.slice(from);
    expect(requests.map((r) => r.method)).toEqual(['PUT', 'GET']);
    for (const request of requests) {
      // The fake recomputes the client's own signature over method, path, headers and payload hash.
      expect(request.error).toBeUndefined();
      expect(request.verified).toBe(true);
      expect(request.headers.authorization).toMatch(new RegExp(`^AWS4-HMAC-SHA256 Credential=${OWN_S3.accessKeyId}/`));
      expect(request.headers['x-amz-security-token']).toBeUndefined();
    }
    expect(ownS3.objects.get(`${BUCKET}/own.txt`)!.toString()).toBe('own keys');
    expect(cloudCalls()).toBe(calls);
  });

  it('denied: send() rejects with the TesseraAccessDeniedError itself (not retried), nothing is sent', async () => {
    const client = s3Client(denied.url);
    const error = await expectDenied(`/${BUCKET}/denied.txt`, () => client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'denied.txt' })));
    expectDeniedCause(error);
    // The SDK's retry middleware tags the error with its metadata: one attempt, no retry.
    expect(error.$metadata).toMatchObject({ attempts: 1 });
  });
});
