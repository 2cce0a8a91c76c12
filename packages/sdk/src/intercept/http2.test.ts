import diagnostics from 'node:diagnostics_channel';
import http2, { connect as namedConnect, type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { Agent, getGlobalDispatcher, request as undiciRequest, setGlobalDispatcher } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TesseraAccessDeniedError } from '../errors.js';
import { init, shutdown } from '../init.js';
import { InjectionError } from '../inject/injection-error.js';
import { Tessera } from '../runtime/tessera.js';
import { startByteRecorder, startHttp2Target, streamHeader, type Http2Target } from '../../test/support/http2-target.js';
import { TEST_CERT } from '../../test/support/tls.js';
import { API_KEY, BASIC_PASSWORD, BASIC_USER, QUERY_KEY, captureLogs, createWorld, rejectionOf, type World } from '../../test/support/world.js';
import { installGlobalDispatcher } from './global.js';
import { installHttp2Interception } from './http2.js';

/**
 * node:http2 sessions against real HTTP/2 servers on loopback and a real control plane: raw
 * `http2.connect()` clients and @grpc/grpc-js. A managed request carries its credential, a
 * refused one never opens a stream, and unmanaged traffic leaves the process byte for byte as
 * it would without Tessera.
 */
const AWS_PLUGIN = fileURLToPath(new URL('../../../../test/fixtures/static-aws-keys/index.js', import.meta.url));
const AWS = { accessKeyId: 'ASIAHTTP2TESTKEY0001', secretAccessKey: 'http2-test/secret+access+key0123456789', sessionToken: 'http2-test-session-token-abcdefghijklmnop==' };

let world: World;
const h2: Record<'api' | 'upload' | 'query' | 'basic' | 'denied' | 'secure' | 'unmanaged' | 's3' | 'sqs', Http2Target> = {} as never;
const rpc: Record<'managed' | 'denied' | 'unmanaged', { port: number; calls: Array<{ method: string; authorization: string[] }>; server: grpc.Server }> = {} as never;
const { logger, lines: logLines } = captureLogs();
const observed: string[] = [];
const cleanups: Array<() => unknown> = [];
const rejection = (promise: Promise<unknown>) => rejectionOf(promise, observed);
const originalConnect = http2.connect;

function installed(): Tessera {
  const created = new Tessera({ cloudUrl: world.proxy.url, collectors: [world.collector()], logger, deadlineMs: 1500, events: false });
  const uninstall = installHttp2Interception(created);
  cleanups.push(uninstall, () => created.close());
  return created;
}

function session(url: string, options: http2.SecureClientSessionOptions = {}, connect = http2.connect): ClientHttp2Session {
  const opened = connect(url, options);
  opened.on('error', () => {});
  cleanups.push(() => opened.destroy());
  return opened;
}

interface Answer {
  status: number;
  body: string;
}

/** One request: resolves with the answer, rejects with the stream's error (after which it closed). */
function exchange(on: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: Buffer | string, options?: http2.ClientSessionRequestOptions): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = on.request(headers, options);
    let status = 0;
    const chunks: Buffer[] = [];
    stream.on('response', (answer) => (status = Number(answer[':status'])));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString() }));
    stream.on('error', (error) => stream.once('close', () => reject(Object.assign(error, { rstCode: stream.rstCode }))));
    if (body !== undefined) stream.end(body);
  });
}

const credentialCalls = () => world.proxy.count('/edge/v1/credentials');

// ---- gRPC: a hand-written service, JSON messages, no protobuf files ----------------------------

const json = { serialize: (value: unknown) => Buffer.from(JSON.stringify(value)), deserialize: (bytes: Buffer) => JSON.parse(bytes.toString()) as unknown };
const ECHO = {
  unary: { path: '/tessera.test.Echo/Unary', requestStream: false, responseStream: false, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize },
  count: { path: '/tessera.test.Echo/Count', requestStream: false, responseStream: true, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize },
} satisfies grpc.ServiceDefinition;
const EchoClient = grpc.makeGenericClientConstructor(ECHO, 'Echo');
type EchoStub = grpc.Client & {
  unary(request: unknown, callback: (error: grpc.ServiceError | null, reply?: { echo: unknown }) => void): void;
  count(request: { upTo: number }): grpc.ClientReadableStream<{ n: number }>;
};

async function startEcho(): Promise<(typeof rpc)['managed']> {
  const calls: Array<{ method: string; authorization: string[] }> = [];
  const server = new grpc.Server();
  const record = (method: string, metadata: grpc.Metadata) => calls.push({ method, authorization: metadata.get('authorization').map(String) });
  server.addService(ECHO, {
    unary: (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      record('unary', call.metadata);
      callback(null, { echo: call.request });
    },
    count: (call: grpc.ServerWritableStream<{ upTo: number }, { n: number }>) => {
      record('count', call.metadata);
      for (let n = 1; n <= call.request.upTo; n++) call.write({ n });
      call.end();
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))));
  return { port, calls, server };
}

function echoClient(port: number): EchoStub {
  const client = new EchoClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as EchoStub;
  cleanups.push(() => client.close());
  return client;
}

const unary = (client: EchoStub, request: unknown) =>
  new Promise<{ echo: unknown }>((resolve, reject) => client.unary(request, (error, reply) => (error ? reject(error) : resolve(reply!))));

beforeAll(async () => {
  world = await createWorld({ plugins: [AWS_PLUGIN] });
  for (const name of ['api', 'upload', 'query', 'basic', 'denied', 'unmanaged', 'sqs'] as const) h2[name] = await startHttp2Target();
  h2.secure = await startHttp2Target({ tls: true });
  h2.s3 = await startHttp2Target({ tls: true });
  for (const name of ['managed', 'denied', 'unmanaged'] as const) rpc[name] = await startEcho();

  const post = (plural: string, body: object) => world.cloud.admin('POST', `/api/v1/${plural}`, body);
  const list = async (plural: string, name: string) => (await world.cloud.admin('GET', `/api/v1/${plural}`)).items.find((item: { name: string }) => item.name === name);
  const [trust, client, key, queryKey, basicCredential, deniedPolicy] = await Promise.all([
    list('trust-providers', 'idp'),
    list('client-workloads', 'payments'),
    list('credential-providers', 'key'),
    list('credential-providers', 'query-key'),
    list('credential-providers', 'basic'),
    list('access-policies', 'denied'),
  ]);
  const awsKeys = await post('credential-providers', { name: 'aws-keys', type: 'static-aws-keys', config: { lifetimeSeconds: 900 }, secrets: AWS });
  const bearer = { kind: 'header', name: 'authorization' };
  const workload = async (name: string, scheme: string, port: number, injection: object, credentialProviderId: string, extra: object = {}) => {
    const server = await post('server-workloads', { name, scheme, host: '127.0.0.1', port, injection });
    await post('access-policies', { name, clientWorkloadIds: [client.id], serverWorkloadId: server.id, trustProviderIds: [trust.id], credentialProviderId, ...extra });
  };
  const refused = { accessConditionIds: deniedPolicy.accessConditionIds };
  await workload('h2-api', 'http', h2.api.port, bearer, key.id);
  await workload('h2-upload', 'http', h2.upload.port, bearer, key.id);
  await workload('h2-query', 'http', h2.query.port, { kind: 'query', name: 'api_key' }, queryKey.id);
  await workload('h2-basic', 'http', h2.basic.port, { kind: 'basic' }, basicCredential.id);
  await workload('h2-denied', 'http', h2.denied.port, bearer, key.id, refused);
  await workload('h2-secure', 'https', h2.secure.port, bearer, key.id);
  await workload('h2-s3', 'https', h2.s3.port, { kind: 'aws-sigv4', region: 'us-east-1', service: 's3' }, awsKeys.id);
  await workload('h2-sqs', 'http', h2.sqs.port, { kind: 'aws-sigv4', region: 'us-east-1', service: 'sqs' }, awsKeys.id);
  await workload('grpc-managed', 'http', rpc.managed.port, bearer, key.id);
  await workload('grpc-denied', 'http', rpc.denied.port, bearer, key.id, refused);
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  expect(http2.connect).toBe(originalConnect);
});

afterAll(async () => {
  await Promise.all([...Object.values(h2).map((target) => target.close()), ...Object.values(rpc).map(({ server }) => new Promise((resolve) => server.tryShutdown(resolve)))]);
  await world?.close();
  const printed = [...logLines, ...observed].join('\n');
  for (const secret of [API_KEY, QUERY_KEY, BASIC_PASSWORD, AWS.secretAccessKey, AWS.sessionToken, ...world.proxy.edgeTokens]) expect(printed).not.toContain(secret);
});

describe('node:http2 sessions', () => {
  it('a managed request waits for its credential; then the cached one is placed at once, replacing the application\'s', async () => {
    installed();
    const s = session(h2.api.url);
    const calls = credentialCalls();
    expect(await exchange(s, { ':path': '/first', authorization: 'Bearer app-set', 'x-trace': 'abc' })).toEqual({ status: 200, body: 'ok /first' });
    expect(credentialCalls()).toBe(calls + 1);
    const first = h2.api.streams.at(-1)!;
    expect(streamHeader(first, 'authorization')).toEqual([`Bearer ${API_KEY}`]);
    expect(streamHeader(first, 'x-trace')).toEqual(['abc']);

    expect((await exchange(s, { ':path': '/second', ':method': 'POST' }, 'body')).status).toBe(200);
    expect(credentialCalls()).toBe(calls + 1);
    const second = h2.api.streams.at(-1)!;
    expect(streamHeader(second, 'authorization')).toEqual([`Bearer ${API_KEY}`]);
    expect(second.body.toString()).toBe('body');
  });

  it('a query credential rewrites :path; the ESM named export connect is intercepted too', async () => {
    installed();
    const s = session(h2.query.url, {}, namedConnect);
    await exchange(s, { ':path': '/search?q=a%20b&api_key=app&x=1' });
    expect(streamHeader(h2.query.streams.at(-1)!, ':path')).toEqual([`/search?q=a%20b&api_key=${QUERY_KEY}&x=1`]);
  });

  it('a basic credential, in headers given as a raw array', async () => {
    installed();
    await exchange(session(h2.basic.url), [':path', '/basic', 'Authorization', 'Basic app', 'x-kept', 'yes'] as unknown as OutgoingHttpHeaders);
    const received = h2.basic.streams.at(-1)!;
    expect(streamHeader(received, 'authorization')).toEqual([`Basic ${Buffer.from(`${BASIC_USER}:${BASIC_PASSWORD}`).toString('base64')}`]);
    expect(streamHeader(received, 'x-kept')).toEqual(['yes']);
  });

  it('over TLS', async () => {
    installed();
    const s = session(h2.secure.url, { ca: TEST_CERT });
    expect((await exchange(s, { ':path': '/tls' })).status).toBe(200);
    expect(streamHeader(h2.secure.streams.at(-1)!, 'authorization')).toEqual([`Bearer ${API_KEY}`]);
  });

  it('a body written while the credential is fetched arrives whole; 4 MiB each way with backpressure', async () => {
    installed();
    const s = session(h2.upload.url);
    const body = Buffer.alloc(4 * 1024 * 1024, 'tessera');
    const stream = s.request({ ':path': '/upload', ':method': 'PUT' });
    let offset = 0;
    let refused = 0;
    const done = new Promise<Answer>((resolve, reject) => {
      let status = 0;
      const chunks: Buffer[] = [];
      stream.on('response', (answer) => (status = Number(answer[':status'])));
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString() }));
      stream.on('error', reject);
    });
    const pump = () => {
      while (offset < body.length) {
        const chunk = body.subarray(offset, offset + 64 * 1024);
        offset += chunk.length;
        if (!stream.write(chunk)) {
          refused += 1;
          stream.once('drain', pump);
          return;
        }
      }
      stream.end();
    };
    pump();
    expect(await done).toEqual({ status: 200, body: 'ok /upload' });
    expect(refused).toBeGreaterThan(0); // the writer was told to wait
    const received = h2.upload.streams.at(-1)!;
    expect(received.body.equals(body)).toBe(true);
    expect(streamHeader(received, 'authorization')).toEqual([`Bearer ${API_KEY}`]);
  });

  it('a refused request never opens a stream: the stream emits the refusal, then closes', async () => {
    const t = installed();
    const s = session(h2.denied.url);
    const streams = h2.denied.streams.length;
    const error = await rejection(exchange(s, { ':path': '/refused', ':method': 'POST' }, 'never sent'));
    expect(error).toBeInstanceOf(TesseraAccessDeniedError);
    expect(error.code).toBe('condition_failed');
    expect(error.rstCode).toBe(http2.constants.NGHTTP2_INTERNAL_ERROR);
    // Again with the directory known: the same, before any frame.
    await t.ready();
    expect((await rejection(exchange(s, { ':path': '/refused-again' }))).code).toBe('condition_failed');
    expect(h2.denied.streams.length).toBe(streams);
  });

  it('a 401 drops the credential: the answer reaches the caller and the next request gets a fresh one', async () => {
    installed();
    const s = session(h2.api.url);
    await exchange(s, { ':path': '/warm' });
    const calls = credentialCalls();
    expect((await exchange(s, { ':path': '/401-expired' })).status).toBe(401);
    await exchange(s, { ':path': '/after-401' });
    expect(credentialCalls()).toBe(calls + 1);
  });

  it('a request naming another origin than its session (:authority) fails closed when either is managed', async () => {
    const t = installed();
    await t.ready();
    const toUnmanaged = session(h2.unmanaged.url);
    const toManaged = session(h2.api.url);
    const before = [h2.unmanaged.streams.length, h2.api.streams.length];
    const posing = await rejection(exchange(toUnmanaged, { ':path': '/pose', ':authority': `127.0.0.1:${h2.api.port}` }));
    expect(posing).toBeInstanceOf(InjectionError);
    expect(posing.code).toBe('target_mismatch');
    const elsewhere = await rejection(exchange(toManaged, { ':path': '/elsewhere', ':authority': 'other.example:443' }));
    expect(elsewhere.code).toBe('target_mismatch');
    expect([h2.unmanaged.streams.length, h2.api.streams.length]).toEqual(before);
    // Neither managed: nothing to decide, sent as it came.
    expect((await exchange(toUnmanaged, { ':path': '/vhost', ':authority': 'other.example:443' })).status).toBe(200);
  });

  it('AWS SigV4: S3 over TLS signs a streamed body as UNSIGNED-PAYLOAD; another service with a body fails closed; without one it is signed', async () => {
    installed();
    await exchange(session(h2.s3.url, { ca: TEST_CERT }), { ':path': '/bucket/key', ':method': 'PUT' }, 'object bytes');
    const put = h2.s3.streams.at(-1)!;
    expect(streamHeader(put, 'authorization')[0]).toMatch(new RegExp(`^AWS4-HMAC-SHA256 Credential=${AWS.accessKeyId}/\\d{8}/us-east-1/s3/aws4_request, SignedHeaders=`));
    expect(streamHeader(put, 'x-amz-content-sha256')).toEqual(['UNSIGNED-PAYLOAD']);
    expect(streamHeader(put, 'x-amz-security-token')).toEqual([AWS.sessionToken]);
    expect(streamHeader(put, 'host')).toEqual([]); // :authority names it in HTTP/2
    expect(put.body.toString()).toBe('object bytes');

    const sqs = session(h2.sqs.url);
    const unsigned = await rejection(exchange(sqs, { ':path': '/', ':method': 'POST' }, 'Action=SendMessage'));
    expect(unsigned).toBeInstanceOf(InjectionError);
    expect(unsigned.code).toBe('body_not_signable');
    expect(h2.sqs.streams).toHaveLength(0);
    await exchange(sqs, { ':path': '/?Action=ListQueues' });
    expect(streamHeader(h2.sqs.streams.at(-1)!, 'authorization')[0]).toMatch(/^AWS4-HMAC-SHA256 Credential=.*\/us-east-1\/sqs\/aws4_request/);
  });

  it('unmanaged traffic is byte for byte what it is without Tessera', async () => {
    const relay = await startByteRecorder(h2.unmanaged.port);
    cleanups.push(() => relay.close());
    const scenario = async () => {
      const s = session(`http://127.0.0.1:${relay.port}`);
      await exchange(s, { ':path': '/bytes?q=1', ':method': 'POST', 'X-Case': 'Kept', authorization: 'mine', 'content-type': 'text/plain' }, 'exact body \u00e9');
      await exchange(s, [':path', '/raw', 'X-Raw', 'a', 'x-raw', 'b'] as unknown as OutgoingHttpHeaders);
      await new Promise<void>((resolve) => s.close(resolve));
      return Buffer.concat(relay.sent.at(-1)!);
    };
    const without = await scenario();
    const t = installed();
    await t.ready();
    const calls = credentialCalls();
    const withTessera = await scenario();
    expect(withTessera.equals(without)).toBe(true);
    expect(credentialCalls()).toBe(calls);
    expect(streamHeader(h2.unmanaged.streams.at(-2)!, 'authorization')).toEqual(['mine']);
  });

  it('init() intercepts node:http2 with node:http (intercept.http); shutdown() removes it', async () => {
    await init({ cloudUrl: world.proxy.url, collectors: [world.collector()], logger, deadlineMs: 1500, events: false, intercept: { fetch: false } });
    try {
      expect(http2.connect).not.toBe(originalConnect);
      await exchange(session(h2.api.url), { ':path': '/via-init' });
      expect(streamHeader(h2.api.streams.at(-1)!, 'authorization')).toEqual([`Bearer ${API_KEY}`]);
    } finally {
      await shutdown();
    }
    expect(http2.connect).toBe(originalConnect);
  });

  it('uninstall puts http2.connect back; a session opened before passes everything untouched from then on', async () => {
    installed();
    const s = session(h2.api.url);
    await exchange(s, { ':path': '/while-installed' });
    expect(streamHeader(h2.api.streams.at(-1)!, 'authorization')).toEqual([`Bearer ${API_KEY}`]);
    cleanups.shift()!(); // uninstall
    expect(http2.connect).toBe(originalConnect);
    await exchange(s, { ':path': '/after-uninstall' });
    expect(streamHeader(h2.api.streams.at(-1)!, 'authorization')).toEqual([]);
  });
});

describe('HTTP/2 sessions of undici', () => {
  it('are left to the undici interceptor, which decided already: one credential, one outcome', async () => {
    const t = installed();
    cleanups.push(installGlobalDispatcher(t));
    const before = getGlobalDispatcher();
    setGlobalDispatcher(new Agent({ allowH2: true, connect: { ca: TEST_CERT } }));
    cleanups.push(() => setGlobalDispatcher(before));
    const outcomes: unknown[] = [];
    const onFinished = (message: unknown) => outcomes.push(message);
    diagnostics.subscribe('tessera:request:finished', onFinished);
    cleanups.push(() => diagnostics.unsubscribe('tessera:request:finished', onFinished));

    for (const path of ['/undici-h2-cold', '/undici-h2-cached']) {
      const { statusCode, body } = await undiciRequest(`${h2.secure.url}${path}`);
      expect(await body.text()).toBe(`ok ${path}`);
      expect(statusCode).toBe(200);
      expect(streamHeader(h2.secure.streams.at(-1)!, 'authorization')).toEqual([`Bearer ${API_KEY}`]);
    }
    expect(outcomes).toHaveLength(2);
  });
});

describe('gRPC over @grpc/grpc-js', () => {
  it('unary and server-streaming calls to a managed target carry the credential in their metadata', async () => {
    installed();
    const client = echoClient(rpc.managed.port);
    expect(await unary(client, { hello: 'world' })).toEqual({ echo: { hello: 'world' } });
    const numbers: number[] = [];
    await new Promise<void>((resolve, reject) => {
      const call = client.count({ upTo: 5 });
      call.on('data', (message: { n: number }) => numbers.push(message.n));
      call.on('end', () => resolve());
      call.on('error', reject);
    });
    expect(numbers).toEqual([1, 2, 3, 4, 5]);
    expect(rpc.managed.calls).toEqual([
      { method: 'unary', authorization: [`Bearer ${API_KEY}`] },
      { method: 'count', authorization: [`Bearer ${API_KEY}`] },
    ]);
  });

  it('a call to a refused target reaches no handler; the client error carries the refusal', async () => {
    const t = installed();
    const client = echoClient(rpc.denied.port);
    const error = await rejection(unary(client, { hello: 'refused' }));
    const refusal = await rejection(t.getCredential(`http://127.0.0.1:${rpc.denied.port}/tessera.test.Echo/Unary`));
    expect(refusal).toBeInstanceOf(TesseraAccessDeniedError);
    expect(error.code).toBe(grpc.status.INTERNAL);
    expect(error.details).toContain(refusal.message);
    expect(rpc.denied.calls).toEqual([]);
  });

  it('an unmanaged target is called as without Tessera', async () => {
    const t = installed();
    await t.ready();
    const calls = credentialCalls();
    expect(await unary(echoClient(rpc.unmanaged.port), 'plain')).toEqual({ echo: 'plain' });
    expect(rpc.unmanaged.calls).toEqual([{ method: 'unary', authorization: [] }]);
    expect(credentialCalls()).toBe(calls);
  });
});
