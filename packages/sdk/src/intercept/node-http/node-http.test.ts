import { once } from 'node:events';
import http, { request as esmRequest } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import axios from 'axios';
import got from 'got';
import nodeFetch from 'node-fetch';
import { afterEach, describe, expect, it } from 'vitest';
import { TesseraAccessDeniedError } from '../../errors.js';
import { InjectionError } from '../../inject/injection-error.js';
import { signAwsSigv4 } from '../../inject/sigv4.js';
import type { EdgeCredential, Injection } from '../../inject/types.js';
import { MUST_WAIT, type Grant, type OutgoingRequest, type RequestGate } from '../../runtime/gate.js';
import { TEST_CERT, TEST_KEY } from '../../../test/support/tls.js';
import { installNodeHttpInterception } from './index.js';

const SECRET = 'sk_test_s3cr3t';
const token: EdgeCredential = { kind: 'token', token: SECRET };
const bearer: Injection = { kind: 'header', name: 'Authorization', format: 'Bearer {token}' };

const original = { httpRequest: http.request, httpGet: http.get, httpsRequest: https.request, httpsGet: https.get };

type Answer = Grant | undefined | typeof MUST_WAIT;

/** Returns configured answers and records every call. */
class FakeGate implements RequestGate {
  answer: (request: OutgoingRequest) => Answer = () => undefined;
  decide: (request: OutgoingRequest) => Promise<Grant | undefined> = async () => undefined;
  bypass = false;
  readonly tried: OutgoingRequest[] = [];
  readonly admitted: OutgoingRequest[] = [];
  readonly rejections: Grant[] = [];
  readonly outcomes: Array<{ grant: Grant; request: OutgoingRequest; statusCode: number | undefined; error: unknown }> = [];

  tryAdmit(request: OutgoingRequest): Answer {
    this.tried.push(request);
    return this.answer(request);
  }

  admit(request: OutgoingRequest): Promise<Grant | undefined> {
    this.admitted.push(request);
    return this.decide(request);
  }

  rejected(grant: Grant): void {
    this.rejections.push(grant);
  }

  finished(grant: Grant, request: OutgoingRequest, statusCode: number | undefined, error?: unknown): void {
    this.outcomes.push({ grant, request, statusCode, error });
  }

  bypassed(): boolean {
    return this.bypass;
  }
}

function grantOf(credential: EdgeCredential, injection: Injection): Grant {
  return {
    entry: { serverWorkloadId: 'sw-1', name: 'api', scheme: 'http', host: '127.0.0.1', port: 0, pathPrefix: '/', injection },
    issued: { credential, injection, expiresAt: Date.now() + 3_600_000, serverWorkloadId: 'sw-1', policyId: 'policy-1' },
    startedAt: performance.now(),
  };
}

/** A promise resolved from outside, for decisions that arrive when the test says so. */
function manual<T>(): { promise: Promise<T>; resolve(value: T): void; reject(error: unknown): void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

interface Seen {
  method: string;
  url: string;
  rawHeaders: string[];
  body: Buffer;
}

interface TestServer {
  port: number;
  seen: Seen[];
  connections(): number;
  close(): Promise<void>;
}

const servers: TestServer[] = [];
let uninstall: (() => void) | undefined;

afterEach(async () => {
  uninstall?.();
  uninstall = undefined;
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

function install(gate: RequestGate, logger?: { warn(msg: string, fields?: Record<string, unknown>): void }): void {
  uninstall = installNodeHttpInterception(gate, logger ? { logger } : {});
}

/** Answers `/401...` with 401, anything else with 200; records what arrived and every connection. */
async function startServer(kind: 'http' | 'https' = 'http'): Promise<TestServer> {
  const seen: Seen[] = [];
  let connections = 0;
  const handler: http.RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks) });
      const status = req.url!.startsWith('/401') ? 401 : 200;
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(`status ${status}`);
    });
  };
  const server = kind === 'http' ? http.createServer(handler) : https.createServer({ cert: TEST_CERT, key: TEST_KEY }, handler);
  server.on('connection', () => connections++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const result: TestServer = {
    port: (server.address() as AddressInfo).port,
    seen,
    connections: () => connections,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  servers.push(result);
  return result;
}

/**
 * Captures the exact bytes of each request (Content-Length or chunked bodies), answers 200 and
 * closes: the byte-for-byte comparison of unmanaged traffic.
 */
async function startRawServer(): Promise<{ port: number; captures: Buffer[] }> {
  const captures: Buffer[] = [];
  const server = net.createServer((socket) => {
    let buffer = Buffer.alloc(0);
    socket.on('data', (data: Buffer) => {
      buffer = Buffer.concat([buffer, data]);
      const headerEnd = buffer.indexOf('\r\n\r\n');
      if (headerEnd < 0) return;
      const head = buffer.subarray(0, headerEnd).toString('latin1');
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      const bodyStart = headerEnd + 4;
      const complete = length
        ? buffer.length >= bodyStart + Number(length[1])
        : /\r\ntransfer-encoding:\s*chunked/i.test(head)
          ? buffer.subarray(bodyStart).toString('latin1').endsWith('0\r\n\r\n')
          : true;
      if (!complete) return;
      captures.push(buffer);
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push({
    port: 0,
    seen: [],
    connections: () => 0,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
  return { port: (server.address() as AddressInfo).port, captures };
}

interface Reply {
  status: number;
  text: string;
}

/** The response of a request (read in full), or its error. */
function reply(req: http.ClientRequest): Promise<Reply> {
  return new Promise((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res: http.IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
  });
}

/** Values of a header in raw (name, value, ...) order, any case. */
function values(rawHeaders: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === name) out.push(rawHeaders[i + 1]!);
  return out;
}

describe('unmanaged requests', () => {
  async function sendRaw(port: number, headers: http.OutgoingHttpHeaders | string[], chunks: string[]): Promise<void> {
    const req = http.request({ host: '127.0.0.1', port, method: 'post', path: '/p?q=1&r=%20x', agent: false, headers });
    const done = reply(req);
    for (const chunk of chunks) req.write(chunk);
    req.end();
    await done;
  }

  it('go out byte for byte as without interception, without admit()', async () => {
    const raw = await startRawServer();
    const arrayHeaders = ['X-Dup', 'a', 'x-dup', 'b', 'AUTHORIZATION', 'Bearer app', 'Host', `127.0.0.1:${raw.port}`, 'Content-Length', '11'];
    const objectHeaders = { 'X-Multi': ['1', '2'], 'x-CASE': 'Keep', Authorization: 'Bearer app' };

    await sendRaw(raw.port, arrayHeaders, ['hello ', 'world']);
    await sendRaw(raw.port, objectHeaders, ['chunk one ', 'chunk two']);
    const gate = new FakeGate();
    install(gate);
    await sendRaw(raw.port, arrayHeaders, ['hello ', 'world']);
    await sendRaw(raw.port, objectHeaders, ['chunk one ', 'chunk two']);

    expect(raw.captures).toHaveLength(4);
    expect(raw.captures[2]!.equals(raw.captures[0]!)).toBe(true);
    expect(raw.captures[3]!.equals(raw.captures[1]!)).toBe(true);
    expect(raw.captures[0]!.toString('latin1')).toContain('X-Dup: a\r\nx-dup: b\r\nAUTHORIZATION: Bearer app\r\n');
    expect(raw.captures[1]!.toString('latin1')).toContain('X-Multi: 1\r\nX-Multi: 2\r\nx-CASE: Keep\r\n');
    expect(gate.tried).toHaveLength(2);
    expect(gate.admitted).toHaveLength(0);
    expect(gate.outcomes).toHaveLength(0);
  });

  it('describe the target from every call form', async () => {
    const server = await startServer();
    const gate = new FakeGate();
    install(gate);
    const base = `http://127.0.0.1:${server.port}`;
    await reply(http.request(`${base}/a?b=1`, { method: 'post' }).end());
    await reply(http.request(new URL(`${base}/url`), () => {}).end());
    await reply(http.get({ hostname: '127.0.0.1', port: String(server.port), path: '/get' }));
    await reply(http.get(`${base}/cb`, (res) => res.resume()));
    const req = https.request({ host: '[::1]', port: 1, path: '/x', method: 'delete' });
    req.on('error', () => {});
    req.destroy();

    expect(gate.tried).toEqual([
      { scheme: 'http', host: '127.0.0.1', port: server.port, path: '/a?b=1', method: 'POST' },
      { scheme: 'http', host: '127.0.0.1', port: server.port, path: '/url', method: 'GET' },
      { scheme: 'http', host: '127.0.0.1', port: server.port, path: '/get', method: 'GET' },
      { scheme: 'http', host: '127.0.0.1', port: server.port, path: '/cb', method: 'GET' },
      { scheme: 'https', host: '::1', port: 1, path: '/x', method: 'DELETE' },
    ]);
    expect(server.seen.map((s) => s.url)).toEqual(['/a?b=1', '/url', '/get', '/cb']);
  });

  it('UNIX sockets and CONNECT are not even described', async () => {
    const gate = new FakeGate();
    gate.answer = () => grantOf(token, bearer);
    install(gate);
    const socketServer = http.createServer((_req, res) => res.end('unix'));
    const path = `/tmp/tessera-node-http-${process.pid}-${Date.now()}.sock`;
    socketServer.listen(path);
    await once(socketServer, 'listening');
    try {
      const answer = await reply(http.request({ socketPath: path, path: '/' }).end());
      expect(answer.text).toBe('unix');
    } finally {
      await new Promise<void>((resolve) => socketServer.close(() => resolve()));
    }
    const connect = http.request({ host: '127.0.0.1', port: 1, method: 'CONNECT', path: 'example.com:443' });
    connect.on('error', () => {});
    connect.destroy();
    expect(gate.tried).toHaveLength(0);
  });

  it("the SDK's own calls (bypassed) pass untouched", async () => {
    const server = await startServer();
    const gate = new FakeGate();
    gate.answer = () => grantOf(token, bearer);
    gate.bypass = true;
    install(gate);
    await reply(http.request({ host: '127.0.0.1', port: server.port, headers: { authorization: 'Bearer app' } }).end());
    expect(values(server.seen[0]!.rawHeaders, 'authorization')).toEqual(['Bearer app']);
    expect(gate.outcomes).toHaveLength(0);
  });
});

describe('managed requests with a cached credential', () => {
  it('replace an application Authorization header, with no duplicate on the wire', async () => {
    const server = await startServer();
    const gate = new FakeGate();
    const grant = grantOf(token, bearer);
    gate.answer = () => grant;
    install(gate);

    const answer = await reply(
      http.request({ host: '127.0.0.1', port: server.port, path: '/v1', headers: { AUTHORIZATION: 'Bearer app', accept: 'text/plain' } }).end(),
    );
    expect(answer.status).toBe(200);
    const { rawHeaders } = server.seen[0]!;
    expect(values(rawHeaders, 'authorization')).toEqual([`Bearer ${SECRET}`]);
    expect(values(rawHeaders, 'accept')).toEqual(['text/plain']);
    expect(gate.admitted).toHaveLength(0);
    expect(gate.outcomes).toEqual([{ grant, request: { scheme: 'http', host: '127.0.0.1', port: server.port, path: '/v1', method: 'GET' }, statusCode: 200, error: undefined }]);
  });

  it('keep the credential when the client sets its headers after request() (superagent)', async () => {
    const server = await startServer();
    const gate = new FakeGate();
    gate.answer = () => grantOf(token, bearer);
    install(gate);
    const req = http.request({ host: '127.0.0.1', port: server.port, method: 'POST' });
    req.setHeader('Authorization', 'Bearer app');
    req.removeHeader('authorization');
    req.setHeader('x-other', '1');
    await reply(req.end('{}'));
    expect(values(server.seen[0]!.rawHeaders, 'authorization')).toEqual([`Bearer ${SECRET}`]);
    expect(values(server.seen[0]!.rawHeaders, 'x-other')).toEqual(['1']);
  });

  it('place basic credentials', async () => {
    const server = await startServer();
    const gate = new FakeGate();
    gate.answer = () => grantOf({ kind: 'basic', username: 'svc', password: SECRET }, { kind: 'basic' });
    install(gate);
    await reply(http.get({ host: '127.0.0.1', port: server.port, auth: 'app:pw' }));
    expect(values(server.seen[0]!.rawHeaders, 'authorization')).toEqual([`Basic ${Buffer.from(`svc:${SECRET}`).toString('base64')}`]);
  });

  it('place a query credential, replacing the parameter and keeping the others byte for byte', async () => {
    const server = await startServer();
    const gate = new FakeGate();
    gate.answer = () => grantOf(token, { kind: 'query', name: 'key' });
    install(gate);
    await reply(http.get(`http://127.0.0.1:${server.port}/v1/items?a=%7E&key=old&b=%20x+y`));
    expect(server.seen[0]!.url).toBe(`/v1/items?a=%7E&key=${SECRET}&b=%20x+y`);
    expect(gate.tried[0]!.path).toBe('/v1/items?a=%7E&key=old&b=%20x+y'); // the gate never sees the credential
  });

  it('handle raw header arrays (rendered by Node in the constructor) without duplicates', async () => {
    const server = await startServer();
    const gate = new FakeGate();
    gate.answer = () => grantOf(token, bearer);
    install(gate);
    const headers = ['authorization', 'Bearer app', 'X-Dup', 'a', 'x-dup', 'b', 'Host', `127.0.0.1:${server.port}`];
    await reply(http.request({ host: '127.0.0.1', port: server.port, headers }).end());
    const { rawHeaders } = server.seen[0]!;
    expect(values(rawHeaders, 'authorization')).toEqual([`Bearer ${SECRET}`]);
    expect(values(rawHeaders, 'x-dup')).toEqual(['a', 'b']);
    expect(values(rawHeaders, 'host')).toEqual([`127.0.0.1:${server.port}`]);
  });

  it('handle Expect: 100-continue (also rendered in the constructor)', async () => {
    const server = await startServer();
    const gate = new FakeGate();
    gate.answer = () => grantOf(token, bearer);
    install(gate);
    const req = http.request({ host: '127.0.0.1', port: server.port, method: 'PUT', headers: { Expect: '100-continue', Authorization: 'Bearer app', 'content-length': 4 } });
    req.on('continue', () => req.end('body'));
    const answer = await reply(req);
    expect(answer.status).toBe(200);
    expect(values(server.seen[0]!.rawHeaders, 'authorization')).toEqual([`Bearer ${SECRET}`]);
    expect(values(server.seen[0]!.rawHeaders, 'expect')).toEqual(['100-continue']);
    expect(server.seen[0]!.body.toString()).toBe('body');
  });

  it('on a 401 tell the gate to forget the credential, retry once, and deliver a second 401', async () => {
    const server = await startServer();
    const gate = new FakeGate();
    const grant = grantOf(token, bearer);
    const fresh = grantOf({ kind: 'token', token: 'fresh' }, bearer);
    gate.answer = () => grant;
    gate.decide = async () => fresh;
    install(gate);
    const answer = await reply(http.get({ host: '127.0.0.1', port: server.port, path: '/401' }));
    expect(answer).toEqual({ status: 401, text: 'status 401' });
    expect(gate.rejections).toEqual([grant, fresh]);
    expect(gate.outcomes.map((o) => o.statusCode)).toEqual([401, 401]);
    expect(server.seen.map((s) => values(s.rawHeaders, 'authorization'))).toEqual([[`Bearer ${SECRET}`], ['Bearer fresh']]);
  });

  it('a credential that cannot be placed fails the request before any connection', async () => {
    const server = await startServer();
    const gate = new FakeGate();
    gate.answer = () => grantOf(token, { kind: 'basic' }); // a token cannot be placed as basic
    install(gate);
    const req = http.request({ host: '127.0.0.1', port: server.port });
    req.end();
    const error = await reply(req).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InjectionError);
    expect((error as InjectionError).code).toBe('credential_kind_mismatch');
    await sleep(30);
    expect(server.connections()).toBe(0);
    expect(gate.outcomes).toHaveLength(1);
    expect(gate.outcomes[0]!.error).toBe(error);
  });
});

describe('the deferred path', () => {
  it('queues a body written in chunks, keeps callbacks in order, opens no connection before the decision', async () => {
    const server = await startServer();
    const gate = new FakeGate();
    const decision = manual<Grant | undefined>();
    gate.answer = () => MUST_WAIT;
    gate.decide = () => decision.promise;
    install(gate);

    const order: string[] = [];
    const req = http.request({ host: '127.0.0.1', port: server.port, method: 'POST', path: '/upload', headers: { 'content-type': 'text/plain' } });
    const done = reply(req);
    expect(req.write('a', () => order.push('write a'))).toBe(false);
    expect(req.write(Buffer.from('b'), () => order.push('write b'))).toBe(false);
    expect(req.write('63', 'hex', () => order.push('write c'))).toBe(false);
    req.end('d', 'utf8', () => order.push('end'));
    req.setHeader('x-late', 'set while waiting');

    await sleep(50);
    expect(server.connections()).toBe(0);
    expect(gate.admitted).toHaveLength(1);
    decision.resolve(grantOf(token, { kind: 'header', name: 'x-api-key', format: '{token}' }));

    expect((await done).status).toBe(200);
    const seen = server.seen[0]!;
    expect(seen.body.toString()).toBe('abcd');
    expect(values(seen.rawHeaders, 'x-api-key')).toEqual([SECRET]);
    expect(values(seen.rawHeaders, 'x-late')).toEqual(['set while waiting']);
    expect(order).toEqual(['write a', 'write b', 'write c', 'end']);
    expect(gate.outcomes.map((o) => o.statusCode)).toEqual([200]);
  });

  it("emits 'drain' after the replay, and a piped stream arrives whole", async () => {
    const server = await startServer();
    const gate = new FakeGate();
    gate.answer = () => MUST_WAIT;
    gate.decide = async () => {
      await sleep(20);
      return grantOf(token, bearer);
    };
    install(gate);

    const req = http.request({ host: '127.0.0.1', port: server.port, method: 'POST' });
    const done = reply(req);
    expect(req.write('x')).toBe(false);
    await once(req, 'drain');
    req.end('y');
    await done;
    expect(server.seen[0]!.body.toString()).toBe('xy');

    const piped = http.request({ host: '127.0.0.1', port: server.port, method: 'POST', path: '/piped' });
    const pipedDone = reply(piped);
    Readable.from(['one ', 'two ', 'three']).pipe(piped);
    await pipedDone;
    expect(server.seen[1]!.body.toString()).toBe('one two three');
    expect(values(server.seen[1]!.rawHeaders, 'authorization')).toEqual([`Bearer ${SECRET}`]);
  });

  it('http.get waits too', async () => {
    const server = await startServer();
    const gate = new FakeGate();
    gate.answer = () => MUST_WAIT;
    gate.decide = async () => grantOf(token, bearer);
    install(gate);
    const answer = await reply(http.get(`http://127.0.0.1:${server.port}/get`, (res) => res.on('data', () => {})));
    expect(answer.status).toBe(200);
    expect(values(server.seen[0]!.rawHeaders, 'authorization')).toEqual([`Bearer ${SECRET}`]);
  });

  it('works for https to a loopback TLS server', async () => {
    const server = await startServer('https');
    const gate = new FakeGate();
    gate.answer = () => MUST_WAIT;
    gate.decide = async () => grantOf(token, bearer);
    install(gate);
    const answer = await reply(https.request({ host: '127.0.0.1', port: server.port, path: '/secure', ca: TEST_CERT, headers: { authorization: 'Bearer app' } }).end());
    expect(answer.status).toBe(200);
    expect(values(server.seen[0]!.rawHeaders, 'authorization')).toEqual([`Bearer ${SECRET}`]);
    expect(gate.admitted[0]).toEqual({ scheme: 'https', host: '127.0.0.1', port: server.port, path: '/secure', method: 'GET' });

    // The cached path over TLS, with the URL call form and the one-off agent of `agent: false`.
    gate.answer = () => grantOf(token, bearer);
    await reply(https.get(`https://localhost:${server.port}/cached`, { ca: TEST_CERT, agent: false }));
    expect(values(server.seen[1]!.rawHeaders, 'authorization')).toEqual([`Bearer ${SECRET}`]);
  });

  it('a refusal fails the request with the exact error and the server sees no connection at all', async () => {
    const server = await startServer();
    const gate = new FakeGate();
    const denied = new TesseraAccessDeniedError('no_matching_policy', 'no policy allows this workload to call api');
    gate.answer = () => MUST_WAIT;
    gate.decide = () => Promise.reject(denied);
    install(gate);

    const req = http.request({ host: '127.0.0.1', port: server.port, method: 'POST' });
    req.write('body');
    req.end();
    const closed = new Promise((resolve) => req.once('close', resolve)); // events.once would reject on 'error'
    await expect(reply(req)).rejects.toBe(denied);
    await closed;
    await sleep(50);
    expect(server.connections()).toBe(0);
    expect(server.seen).toHaveLength(0);
  });

  it('admit() resolving undefined passes the request through unchanged', async () => {
    const server = await startServer();
    const gate = new FakeGate();
    gate.answer = () => MUST_WAIT;
    gate.decide = async () => undefined;
    install(gate);
    await reply(http.request({ host: '127.0.0.1', port: server.port, method: 'PUT', headers: { Authorization: 'Bearer app' } }).end('same'));
    expect(values(server.seen[0]!.rawHeaders, 'authorization')).toEqual(['Bearer app']);
    expect(server.seen[0]!.body.toString()).toBe('same');
    expect(gate.outcomes).toHaveLength(0);
  });

  it('abort() while waiting: close, no error, no connection; the late decision is ignored', async () => {
    const server = await startServer();
    const gate = new FakeGate();
    const decision = manual<Grant | undefined>();
    gate.answer = () => MUST_WAIT;
    gate.decide = () => decision.promise;
    install(gate);

    const req = http.request({ host: '127.0.0.1', port: server.port });
    const errors: unknown[] = [];
    req.on('error', (error) => errors.push(error));
    req.end();
    req.abort();
    await once(req, 'close');
    const grant = grantOf(token, bearer);
    decision.resolve(grant);
    await sleep(50);
    expect(errors).toEqual([]);
    expect(server.connections()).toBe(0);
    expect(gate.outcomes).toHaveLength(1); // the unused grant still gets an outcome
    expect(gate.outcomes[0]!.statusCode).toBeUndefined();
  });

  it('destroy(error) or an AbortSignal while waiting: that error, no connection', async () => {
    const server = await startServer();
    const gate = new FakeGate();
    gate.answer = () => MUST_WAIT;
    gate.decide = () => new Promise(() => {}); // never decides
    install(gate);

    const req = http.request({ host: '127.0.0.1', port: server.port });
    const mine = new Error('caller gave up');
    const failed = reply(req);
    req.destroy(mine);
    await expect(failed).rejects.toBe(mine);

    const controller = new AbortController();
    const signalled = http.request({ host: '127.0.0.1', port: server.port, signal: controller.signal });
    const signalledDone = reply(signalled);
    controller.abort();
    await expect(signalledDone).rejects.toMatchObject({ name: 'AbortError' });
    await sleep(30);
    expect(server.connections()).toBe(0);
  });

  it('an admit() that throws fails the request; a tryAdmit() that throws passes it untouched', async () => {
    const server = await startServer();
    const gate = new FakeGate();
    const warnings: string[] = [];
    gate.answer = () => MUST_WAIT;
    gate.decide = () => {
      throw new Error('boom');
    };
    install(gate, { warn: (msg) => warnings.push(msg) });
    await expect(reply(http.request({ host: '127.0.0.1', port: server.port }).end())).rejects.toThrow('boom');
    expect(server.connections()).toBe(0);

    gate.answer = () => {
      throw new Error('bug');
    };
    await reply(http.request({ host: '127.0.0.1', port: server.port, headers: { authorization: 'Bearer app' } }).end());
    expect(values(server.seen[0]!.rawHeaders, 'authorization')).toEqual(['Bearer app']);
    expect(warnings).toHaveLength(1);
  });

  it('places a credential on a deferred Expect: 100-continue request', async () => {
    const server = await startServer();
    const gate = new FakeGate();
    gate.answer = () => MUST_WAIT;
    gate.decide = async () => grantOf(token, bearer);
    install(gate);
    const req = http.request({ host: '127.0.0.1', port: server.port, method: 'POST', headers: { expect: '100-continue' } });
    req.on('continue', () => req.end('after continue'));
    expect((await reply(req)).status).toBe(200);
    expect(values(server.seen[0]!.rawHeaders, 'authorization')).toEqual([`Bearer ${SECRET}`]);
    expect(server.seen[0]!.body.toString()).toBe('after continue');
  });
});

describe('install and uninstall', () => {
  it('ESM named imports see the patch; uninstall restores the originals', async () => {
    const gate = new FakeGate();
    install(gate);
    const namespace = await import('node:http');
    expect(http.request).not.toBe(original.httpRequest);
    expect(esmRequest).toBe(http.request);
    expect(namespace.request).toBe(http.request);
    expect(namespace.get).toBe(http.get);

    uninstall!();
    uninstall = undefined;
    expect(http.request).toBe(original.httpRequest);
    expect(http.get).toBe(original.httpGet);
    expect(https.request).toBe(original.httpsRequest);
    expect(https.get).toBe(original.httpsGet);
    expect(esmRequest).toBe(original.httpRequest);
    expect(namespace.request).toBe(original.httpRequest);
  });

  it('installing twice throws; after uninstall it can be installed again', () => {
    const gate = new FakeGate();
    install(gate);
    expect(() => installNodeHttpInterception(gate)).toThrow(/already installed/);
    uninstall!();
    uninstall = installNodeHttpInterception(gate);
    expect(http.request).not.toBe(original.httpRequest);
  });

  it('a patch made over ours survives uninstall, and ours then passes everything through', async () => {
    const server = await startServer();
    const gate = new FakeGate();
    gate.answer = () => grantOf(token, bearer);
    install(gate);
    const ours = http.request;
    const theirs = function (this: unknown, ...args: unknown[]) {
      return Reflect.apply(ours, this, args) as http.ClientRequest;
    } as typeof http.request;
    http.request = theirs;
    try {
      uninstall!();
      uninstall = undefined;
      expect(http.request).toBe(theirs);
      await reply(http.request({ host: '127.0.0.1', port: server.port, headers: { authorization: 'Bearer app' } }).end());
      expect(values(server.seen[0]!.rawHeaders, 'authorization')).toEqual(['Bearer app']);
    } finally {
      http.request = original.httpRequest;
    }
  });
});

type Scripted = number | 'hang' | { status: number; early: true };

interface ScriptedServer {
  port: number;
  seen: Seen[];
  open(): number;
}

/**
 * Answers each request with the next entry of `script` (then 200): a status once the body
 * arrived, `early` at once without reading the body, or `hang` (never answers).
 */
async function startScriptedServer(script: Scripted[]): Promise<ScriptedServer> {
  const seen: Seen[] = [];
  let open = 0;
  const server = http.createServer((req, res) => {
    const next = script.shift() ?? 200;
    if (typeof next === 'object') {
      seen.push({ method: req.method!, url: req.url!, rawHeaders: req.rawHeaders, body: Buffer.alloc(0) });
      res.writeHead(next.status, { 'content-type': 'text/plain', connection: 'close' });
      res.end(`status ${next.status}`);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks) });
      if (next === 'hang') return;
      res.writeHead(next, { 'content-type': 'text/plain' });
      res.end(`status ${next}`);
    });
  });
  server.on('connection', (socket: net.Socket) => {
    open++;
    socket.on('close', () => open--);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push({
    port: 0,
    seen,
    connections: () => open,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
  return { port: (server.address() as AddressInfo).port, seen, open: () => open };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await sleep(10);
  if (!condition()) throw new Error(`timed out waiting for ${what}`);
}

describe('a 401 answered by one retry with a fresh credential', () => {
  const fresh: EdgeCredential = { kind: 'token', token: 'fresh-token' };

  /** A gate with a cached credential that the target refuses, and a fresh one from admit(). */
  function refusedGate(): { gate: FakeGate; stale: Grant; renewed: Grant } {
    const gate = new FakeGate();
    const stale = grantOf(token, bearer);
    const renewed = grantOf(fresh, bearer);
    gate.answer = () => stale;
    gate.decide = async () => renewed;
    return { gate, stale, renewed };
  }

  /** Every 'response' and 'close' the caller's request emits, besides the reply. */
  function watch(req: http.ClientRequest): { statuses: number[]; closes: number } {
    const seen = { statuses: [] as number[], closes: 0 };
    req.on('response', (res: http.IncomingMessage) => seen.statuses.push(res.statusCode!));
    req.on('close', () => seen.closes++);
    return seen;
  }

  it('a GET without a body: the caller sees only the 200', async () => {
    const server = await startScriptedServer([401]);
    const { gate, stale, renewed } = refusedGate();
    install(gate);
    const req = http.get({ host: '127.0.0.1', port: server.port, path: '/items?a=1', headers: { accept: 'text/plain' } });
    const events = watch(req);
    const answer = await reply(req);
    await sleep(20);

    expect(answer).toEqual({ status: 200, text: 'status 200' });
    expect(events).toEqual({ statuses: [200], closes: 1 });
    expect(req.destroyed).toBe(true);
    expect(server.seen).toHaveLength(2);
    expect(values(server.seen[0]!.rawHeaders, 'authorization')).toEqual([`Bearer ${SECRET}`]);
    expect(values(server.seen[1]!.rawHeaders, 'authorization')).toEqual(['Bearer fresh-token']);
    expect(server.seen.map((s) => [s.method, s.url, values(s.rawHeaders, 'accept')])).toEqual([
      ['GET', '/items?a=1', ['text/plain']],
      ['GET', '/items?a=1', ['text/plain']],
    ]);
    expect(gate.rejections).toEqual([stale]);
    expect(gate.admitted).toEqual([{ scheme: 'http', host: '127.0.0.1', port: server.port, path: '/items?a=1', method: 'GET' }]);
    expect(gate.outcomes.map((o) => [o.grant, o.statusCode])).toEqual([
      [stale, 401],
      [renewed, 200],
    ]);
  });

  it('a small JSON POST: the same body bytes and headers, also those set after request() on the deferred path', async () => {
    const server = await startScriptedServer([401]);
    const gate = new FakeGate();
    const stale = grantOf(token, bearer);
    const renewed = grantOf(fresh, bearer);
    const grants = [stale, renewed];
    gate.answer = () => MUST_WAIT;
    gate.decide = async () => grants.shift();
    install(gate);

    const json = JSON.stringify({ name: 'ünïcode', items: [1, 2, 3] });
    const req = http.request({ host: '127.0.0.1', port: server.port, method: 'POST', path: '/v1/things', headers: { 'content-type': 'application/json' } });
    req.setHeader('x-late', 'set after request()');
    const events = watch(req);
    const done = reply(req);
    req.write(json.slice(0, 10));
    req.end(Buffer.from(json.slice(10)));
    expect(await done).toEqual({ status: 200, text: 'status 200' });

    expect(events.statuses).toEqual([200]);
    expect(server.seen).toHaveLength(2);
    const [first, second] = server.seen;
    expect(second!.body.equals(first!.body)).toBe(true);
    expect(second!.body.toString()).toBe(json);
    expect(values(second!.rawHeaders, 'authorization')).toEqual(['Bearer fresh-token']);
    expect(values(second!.rawHeaders, 'content-type')).toEqual(['application/json']);
    expect(values(second!.rawHeaders, 'x-late')).toEqual(['set after request()']);
    expect(gate.rejections).toEqual([stale]);
    expect(gate.outcomes.map((o) => o.statusCode)).toEqual([401, 200]);
  });

  it('the http.request(url, callback) form gets the retried response', async () => {
    const server = await startScriptedServer([401]);
    install(refusedGate().gate);
    const statuses: number[] = [];
    const answer = await new Promise<Reply>((resolve, reject) => {
      const req = http.request(`http://127.0.0.1:${server.port}/cb`, { method: 'PUT' }, (res) => {
        statuses.push(res.statusCode!);
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      req.end('payload');
    });
    expect(answer.status).toBe(200);
    expect(statuses).toEqual([200]);
    expect(server.seen.map((s) => s.body.toString())).toEqual(['payload', 'payload']);
  });

  it('axios sees the 200 (with follow-redirects and with plain node:http)', async () => {
    const server = await startScriptedServer([401, 200, 401]);
    install(refusedGate().gate);
    const url = `http://127.0.0.1:${server.port}/axios`;
    const viaRedirects = await axios.post(url, { a: 1 });
    expect(viaRedirects.status).toBe(200);
    expect(viaRedirects.data).toBe('status 200');
    const direct = await axios.post(url, { b: 2 }, { maxRedirects: 0 });
    expect(direct.status).toBe(200);
    expect(server.seen.map((s) => s.body.toString())).toEqual(['{"a":1}', '{"a":1}', '{"b":2}', '{"b":2}']);
    expect(values(server.seen[3]!.rawHeaders, 'authorization')).toEqual(['Bearer fresh-token']);
  });

  it('got and node-fetch see the 200 too', async () => {
    const server = await startScriptedServer([401, 200, 401]);
    install(refusedGate().gate);
    const url = `http://127.0.0.1:${server.port}/clients`;
    const viaGot = await got.post(url, { json: { c: 3 } });
    expect(viaGot.statusCode).toBe(200);
    expect(viaGot.body).toBe('status 200');
    const viaNodeFetch = await nodeFetch(url, { method: 'POST', body: '{"d":4}', headers: { 'content-type': 'application/json' } });
    expect(viaNodeFetch.status).toBe(200);
    expect(await viaNodeFetch.text()).toBe('status 200');
    expect(server.seen.map((s) => s.body.toString())).toEqual(['{"c":3}', '{"c":3}', '{"d":4}', '{"d":4}']);
  });

  it('a second 401 reaches the caller (one retry only)', async () => {
    const server = await startScriptedServer([401, 401]);
    const { gate, stale, renewed } = refusedGate();
    install(gate);
    const req = http.request({ host: '127.0.0.1', port: server.port, method: 'POST' });
    const events = watch(req);
    const answer = await reply(req.end('x'));
    expect(answer).toEqual({ status: 401, text: 'status 401' });
    expect(events.statuses).toEqual([401]);
    expect(server.seen).toHaveLength(2);
    expect(gate.admitted).toHaveLength(1);
    expect(gate.rejections).toEqual([stale, renewed]);
    expect(gate.outcomes.map((o) => o.statusCode)).toEqual([401, 401]);
  });

  it('a body over 1 MiB, or one not ended yet, gets its 401 as is', async () => {
    const server = await startScriptedServer([401, { status: 401, early: true }]);
    const { gate, stale } = refusedGate();
    install(gate);
    const half = Buffer.alloc(768 * 1024, 0x62);
    const big = http.request({ host: '127.0.0.1', port: server.port, method: 'PUT', path: '/big' });
    const done = reply(big);
    big.write(half);
    big.write(half);
    big.end();
    expect((await done).status).toBe(401);
    expect(server.seen).toHaveLength(1);
    expect(server.seen[0]!.body.length).toBe(2 * half.length);

    const streaming = http.request({ host: '127.0.0.1', port: server.port, method: 'PUT', path: '/streaming' });
    streaming.on('error', () => {}); // the server closes while the body is still open
    const streamed = reply(streaming);
    streaming.write('first part');
    expect((await streamed).status).toBe(401);
    streaming.destroy();
    expect(server.seen).toHaveLength(2);
    expect(gate.admitted).toHaveLength(0);
    expect(gate.rejections).toEqual([stale, stale]);
  });

  it('an unmanaged 401 is untouched', async () => {
    const server = await startScriptedServer([401]);
    const gate = new FakeGate();
    install(gate);
    const answer = await reply(http.request({ host: '127.0.0.1', port: server.port, headers: { authorization: 'Bearer app' } }).end());
    expect(answer.status).toBe(401);
    expect(server.seen).toHaveLength(1);
    expect(values(server.seen[0]!.rawHeaders, 'authorization')).toEqual(['Bearer app']);
    expect(gate.admitted).toHaveLength(0);
    expect(gate.rejections).toHaveLength(0);
    expect(gate.outcomes).toHaveLength(0);
  });

  it("a retry whose admit() is denied: the caller's request emits that error, then 'close'", async () => {
    const server = await startScriptedServer([401]);
    const { gate } = refusedGate();
    const denied = new TesseraAccessDeniedError('no_matching_policy', 'no policy allows this workload to call api');
    gate.decide = () => Promise.reject(denied);
    install(gate);
    const req = http.request({ host: '127.0.0.1', port: server.port, method: 'POST' });
    const events = watch(req);
    const closed = new Promise((resolve) => req.once('close', resolve));
    await expect(reply(req.end('{}'))).rejects.toBe(denied);
    await closed;
    expect(events).toEqual({ statuses: [], closes: 1 });
    expect(server.seen).toHaveLength(1);
    expect(gate.outcomes.map((o) => o.statusCode)).toEqual([401]);
  });

  it("abort while the retry is in flight: Node's own 'socket hang up', one close, no connection left open", async () => {
    const server = await startScriptedServer([401, 'hang']);
    const { gate } = refusedGate();
    install(gate);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const req = http.request({ host: '127.0.0.1', port: server.port, method: 'POST', agent });
      const events = watch(req);
      const errors: unknown[] = [];
      req.on('error', (error) => errors.push(error));
      req.end('body');
      await until(() => server.seen.length === 2, 'the retry to reach the server');
      expect(req.destroyed).toBe(false);
      req.abort();
      await until(() => events.closes === 1, "the caller's 'close'");
      await until(() => server.open() === 0, 'every connection to close');
      await sleep(20);
      // What Node emits for a request aborted before its response, with or without Tessera.
      expect(errors).toEqual([expect.objectContaining({ code: 'ECONNRESET', message: 'socket hang up' })]);
      expect(events).toEqual({ statuses: [], closes: 1 });
      expect(req.destroyed).toBe(true);
      expect(gate.outcomes.map((o) => o.statusCode)).toEqual([401, undefined]);
    } finally {
      agent.destroy();
    }
  });

  it('destroy(error) while the fresh credential is awaited: that error, nothing more sent', async () => {
    const server = await startScriptedServer([401]);
    const { gate, renewed } = refusedGate();
    const decision = manual<Grant | undefined>();
    gate.decide = () => decision.promise;
    install(gate);
    const req = http.request({ host: '127.0.0.1', port: server.port, agent: false });
    const events = watch(req);
    const failed = reply(req.end());
    await until(() => gate.admitted.length === 1, 'the retry to ask for a credential');
    const mine = new Error('caller gave up');
    req.destroy(mine);
    await expect(failed).rejects.toBe(mine);
    decision.resolve(renewed);
    await sleep(30);
    expect(events).toEqual({ statuses: [], closes: 1 });
    expect(server.seen).toHaveLength(1);
    expect(server.open()).toBe(0);
    expect(gate.outcomes.map((o) => [o.grant === renewed, o.statusCode])).toEqual([
      [false, 401],
      [true, undefined],
    ]);
  });
});

describe('SigV4', () => {
  const aws: EdgeCredential = { kind: 'aws', accessKeyId: 'AKIATESSERATEST', secretAccessKey: SECRET, sessionToken: 'session-token' };

  /** Re-signs what the server received, over the headers the signature names: it must match. */
  async function expectValidSignature(seen: Seen, port: number, injection: Extract<Injection, { kind: 'aws-sigv4' }>): Promise<void> {
    const [authorization] = values(seen.rawHeaders, 'authorization');
    expect(authorization).toMatch(new RegExp(`^AWS4-HMAC-SHA256 Credential=AKIATESSERATEST/\\d{8}/${injection.region}/${injection.service}/aws4_request, `));
    const signedNames = /SignedHeaders=([^,]+)/.exec(authorization!)![1]!.split(';');
    const headers: Record<string, string> = {};
    for (const name of signedNames) headers[name] = values(seen.rawHeaders, name).join(', ');
    const amzDate = headers['x-amz-date']!;
    const now = new Date(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
    const again = await signAwsSigv4(
      { method: seen.method, scheme: 'http', host: '127.0.0.1', port, path: seen.url, headers, body: seen.body.length > 0 ? seen.body : undefined },
      aws,
      injection,
      now,
    );
    expect(again.authorization).toBe(authorization);
  }

  it('a cached S3 grant signs the whole body and replaces the application signature', async () => {
    const server = await startServer();
    const gate = new FakeGate();
    const injection = { kind: 'aws-sigv4', region: 'eu-west-1', service: 's3' } as const;
    gate.answer = () => grantOf(aws, injection);
    install(gate);

    const req = http.request({
      host: '127.0.0.1',
      port: server.port,
      method: 'PUT',
      path: '/bucket/key.txt',
      headers: { Authorization: 'AWS4-HMAC-SHA256 Credential=PLACEHOLDER/...', 'X-Amz-Date': '20200101T000000Z', 'content-type': 'text/plain' },
    });
    const done = reply(req);
    expect(req.write('hello ')).toBe(true); // collecting the body: keep it coming
    req.end('world');
    expect((await done).status).toBe(200);

    const seen = server.seen[0]!;
    expect(seen.body.toString()).toBe('hello world');
    expect(values(seen.rawHeaders, 'authorization')).toHaveLength(1);
    expect(values(seen.rawHeaders, 'x-amz-date')).toHaveLength(1);
    expect(values(seen.rawHeaders, 'x-amz-date')[0]).not.toBe('20200101T000000Z');
    expect(values(seen.rawHeaders, 'x-amz-security-token')).toEqual(['session-token']);
    expect(values(seen.rawHeaders, 'x-amz-content-sha256')).toEqual([createHash('sha256').update('hello world').digest('hex')]);
    await expectValidSignature(seen, server.port, injection);
    expect(gate.outcomes.map((o) => o.statusCode)).toEqual([200]);
  });

  it('a 401 is retried with a fresh signature over the same body', async () => {
    const server = await startScriptedServer([401]);
    const gate = new FakeGate();
    const injection = { kind: 'aws-sigv4', region: 'eu-west-1', service: 'dynamodb' } as const;
    const stale = grantOf({ ...aws, sessionToken: 'stale-token' }, injection);
    gate.answer = () => stale;
    gate.decide = async () => grantOf(aws, injection);
    install(gate);

    const req = http.request({ host: '127.0.0.1', port: server.port, method: 'POST', path: '/', headers: { 'content-type': 'application/x-amz-json-1.0' } });
    const done = reply(req);
    req.write('{"TableName":');
    req.end('"things"}');
    expect((await done).status).toBe(200);
    expect(server.seen).toHaveLength(2);
    const retried = server.seen[1]!;
    expect(retried.body.toString()).toBe('{"TableName":"things"}');
    expect(values(retried.rawHeaders, 'authorization')).toHaveLength(1);
    expect(values(retried.rawHeaders, 'x-amz-security-token')).toEqual(['session-token']);
    await expectValidSignature(retried, server.port, injection);
  });

  it('a deferred grant for another service hashes a piped body', async () => {
    const server = await startServer();
    const gate = new FakeGate();
    const injection = { kind: 'aws-sigv4', region: 'us-east-1', service: 'sts' } as const;
    gate.answer = () => MUST_WAIT;
    gate.decide = async () => grantOf(aws, injection);
    install(gate);

    const req = http.request({ host: '127.0.0.1', port: server.port, method: 'POST', path: '/', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    const done = reply(req);
    Readable.from(['Action=GetCallerIdentity', '&Version=2011-06-15']).pipe(req);
    expect((await done).status).toBe(200);
    expect(server.seen[0]!.body.toString()).toBe('Action=GetCallerIdentity&Version=2011-06-15');
    await expectValidSignature(server.seen[0]!, server.port, injection);
  });

  it('a writer that waits for each write callback before writing on (got) is not left waiting for the signature', async () => {
    const server = await startServer();
    const gate = new FakeGate();
    const injection = { kind: 'aws-sigv4', region: 'eu-west-1', service: 's3' } as const;
    gate.answer = () => MUST_WAIT; // the body starts arriving before the credential
    gate.decide = async () => grantOf(aws, injection);
    install(gate);

    const req = http.request({ host: '127.0.0.1', port: server.port, method: 'PUT', path: '/bucket/one-by-one' });
    const done = reply(req);
    const chunk = Buffer.from('abc');
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve, reject) => req.write(chunk, (error) => (error ? reject(error) : resolve())));
      chunk.fill(0x7a); // the writer may reuse its buffer once its callback ran
      chunk.write(`ab${i}`);
    }
    req.end();
    expect((await done).status).toBe(200);
    expect(server.seen[0]!.body.toString()).toBe('abcab0ab1');
    expect(values(server.seen[0]!.rawHeaders, 'x-amz-content-sha256')).toEqual([createHash('sha256').update('abcab0ab1').digest('hex')]);
    await expectValidSignature(server.seen[0]!, server.port, injection);

    // got writes its body that way.
    const answer = await got.put(`http://127.0.0.1:${server.port}/bucket/got`, { body: 'sent by got', timeout: { request: 5000 }, retry: { limit: 0 } }).text();
    expect(answer).toBe('status 200');
    expect(server.seen[1]!.body.toString()).toBe('sent by got');
    await expectValidSignature(server.seen[1]!, server.port, injection);
  });

  it('a body over 8 MiB is streamed: UNSIGNED-PAYLOAD for S3 over https, an error over plain http and elsewhere', async () => {
    const secure = await startServer('https');
    const plain = await startServer();
    const gate = new FakeGate();
    let injection: Extract<Injection, { kind: 'aws-sigv4' }> = { kind: 'aws-sigv4', region: 'eu-west-1', service: 's3' };
    gate.answer = () => grantOf(aws, injection);
    install(gate);
    const mebibyte = Buffer.alloc(1024 * 1024, 0x61);

    const req = https.request({ host: '127.0.0.1', port: secure.port, method: 'PUT', path: '/bucket/big', ca: TEST_CERT });
    const done = reply(req);
    const accepted: boolean[] = [];
    for (let i = 0; i < 9; i++) accepted.push(req.write(mebibyte));
    req.end();
    expect(accepted.slice(0, 8)).toEqual(Array(8).fill(true));
    expect(accepted[8]).toBe(false); // over the limit: signed streamed, the writer waits for 'drain'
    expect((await done).status).toBe(200);
    expect(secure.seen[0]!.body.length).toBe(9 * 1024 * 1024);
    expect(values(secure.seen[0]!.rawHeaders, 'x-amz-content-sha256')).toEqual(['UNSIGNED-PAYLOAD']);

    // Over plain http an unsigned body could be replaced on the way: refused, nothing sent.
    for (const service of ['s3', 'dynamodb']) {
      injection = { kind: 'aws-sigv4', region: 'eu-west-1', service };
      const other = http.request({ host: '127.0.0.1', port: plain.port, method: 'POST', path: '/big' });
      const failed = reply(other);
      for (let i = 0; i < 9; i++) other.write(mebibyte);
      other.end();
      await expect(failed).rejects.toMatchObject({ code: 'body_not_signable' });
    }
    expect(plain.connections()).toBe(0);
  });
});
