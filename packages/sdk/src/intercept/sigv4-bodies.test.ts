import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import axios from 'axios';
import got from 'got';
import { Agent, fetch as undiciFetch, request as undiciRequest, setGlobalDispatcher } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeAwsService, type FakeAwsService } from '../../test/support/fake-aws-service.js';
import { StaticGate } from '../../test/support/static-gate.js';
import { TEST_CERT as CERT, TEST_KEY as KEY } from '../../test/support/tls.js';
import { headerValues, startTarget, type TargetServer } from '../../test/support/world.js';
import { MAX_REPLAYED_BODY, MAX_SIGNED_BODY } from './body-limits.js';
import { installGlobalDispatcher } from './global.js';
import { installNodeHttpInterception } from './node-http/index.js';

/**
 * What happens to a request body, per client, as docs/sdk.md states it: which bodies a SigV4
 * signature covers (the independent verifier recomputes the payload hash), which go out
 * UNSIGNED-PAYLOAD, which fail closed, and which are sent again after a 401.
 */
const KEYS = { accessKeyId: 'AKIABODIESTEST00001', secretAccessKey: 'bodies-test/secret+key0123456789abcdefgh', sessionToken: 'bodies-test-session==' };
const API_KEY = 'sk_bodies_test_never_in_logs';

let s3: FakeAwsService;
let s3Tls: FakeAwsService;
let lambda: FakeAwsService;
let api: TargetServer;
let gate: StaticGate;
const uninstall: Array<() => void> = [];

beforeAll(async () => {
  [s3, s3Tls, lambda, api] = await Promise.all([
    startFakeAwsService({ service: 's3', credentials: [KEYS] }),
    startFakeAwsService({ service: 's3', credentials: [KEYS], tls: { cert: CERT, key: KEY } }),
    startFakeAwsService({ service: 'lambda', credentials: [KEYS] }),
    startTarget(),
  ]);
  gate = new StaticGate({ kind: 'aws', ...KEYS });
  gate.manage(s3.port, { kind: 'aws-sigv4', region: 'us-east-1', service: 's3' });
  gate.manage(s3Tls.port, { kind: 'aws-sigv4', region: 'us-east-1', service: 's3' });
  gate.manage(lambda.port, { kind: 'aws-sigv4', region: 'us-east-1', service: 'lambda' });
  gate.manage(api.port, { kind: 'header', name: 'authorization', format: 'Bearer {token}' }, { kind: 'token', token: API_KEY });
  // fetch and undici trust the test certificate through the dispatcher Tessera composes onto.
  setGlobalDispatcher(new Agent({ connect: { ca: CERT } }));
  uninstall.push(installGlobalDispatcher(gate), installNodeHttpInterception(gate));
});

afterAll(async () => {
  for (const undo of uninstall.splice(0)) undo();
  await Promise.all([s3?.close(), s3Tls?.close(), lambda?.close(), api?.close()]);
});

beforeEach(() => {
  for (const fake of [s3, s3Tls, lambda]) fake.requests.length = 0;
  api.received.length = 0;
});

/** `bytes`: a body whose length the client knows (string or Buffer); `stream`: one it does not. */
type Body = { kind: 'bytes'; data: string | Buffer } | { kind: 'stream'; data: Buffer };
type Send = (url: string, body: Body) => Promise<{ status: number; text: string }>;

const chunksOf = (data: Buffer) => Array.from({ length: Math.ceil(data.length / 65_536) }, (_, i) => data.subarray(i * 65_536, (i + 1) * 65_536));
const webStream = (data: Buffer) => ReadableStream.from(chunksOf(data));

function viaNodeHttp(url: string, body: Body): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const { protocol, hostname, port, pathname } = new URL(url);
    const options = { host: hostname, port, path: pathname, method: 'PUT', ca: CERT };
    const req = (protocol === 'https:' ? https : http).request(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    if (body.kind === 'bytes') req.end(body.data);
    else Readable.from(chunksOf(body.data)).pipe(req);
  });
}

const clients: Array<[name: string, send: Send]> = [
  [
    'fetch',
    async (url, body) => {
      const init = body.kind === 'bytes' ? { body: body.data } : { body: webStream(body.data), duplex: 'half' as const };
      const response = await fetch(url, { method: 'PUT', ...init });
      return { status: response.status, text: await response.text() };
    },
  ],
  [
    'undici.fetch',
    async (url, body) => {
      const init = body.kind === 'bytes' ? { body: body.data } : { body: webStream(body.data), duplex: 'half' as const };
      const response = await undiciFetch(url, { method: 'PUT', ...init });
      return { status: response.status, text: await response.text() };
    },
  ],
  [
    'undici.request',
    async (url, body) => {
      const answer = await undiciRequest(url, { method: 'PUT', body: body.kind === 'bytes' ? body.data : Readable.from(chunksOf(body.data)) });
      return { status: answer.statusCode, text: await answer.body.text() };
    },
  ],
  ['node:http', viaNodeHttp],
  [
    'axios',
    async (url, body) => {
      const data = body.kind === 'bytes' ? body.data : Readable.from(chunksOf(body.data));
      const response = await axios.put(url, data, { httpsAgent: new https.Agent({ ca: CERT }), validateStatus: () => true, responseType: 'text', maxBodyLength: Infinity });
      return { status: response.status, text: String(response.data) };
    },
  ],
  [
    'got',
    async (url, body) => {
      const response = await got.put(url, {
        body: body.kind === 'bytes' ? body.data : Readable.from(chunksOf(body.data)),
        https: { certificateAuthority: CERT },
        throwHttpErrors: false,
        retry: { limit: 0 },
      });
      return { status: response.statusCode, text: response.body };
    },
  ],
];

/** Clients built on node:http see a stream's end before signing (within MAX_SIGNED_BODY); fetch and undici do not wait for it. */
const WAITS_FOR_STREAM_END = new Set(['node:http', 'axios', 'got']);
/**
 * Clients that hand a string or Buffer body over in one call (undici.request; `req.end(buffer)`):
 * it is hashed whatever its size. axios (through follow-redirects) writes it, then ends.
 */
const HANDS_OVER_WHOLE = new Set(['undici.request', 'node:http']);
/** undici.request keeps the caller's own string or Buffer: sent again after a 401 whatever its size. */
const KEEPS_CALLERS_BYTES = new Set(['undici.request']);

/** The error a failed call gave, or one of its causes, with this `code`. */
async function failureCode(attempt: Promise<unknown>): Promise<unknown> {
  const error = await attempt.then(
    () => expect.unreachable('the call should have failed'),
    (thrown: unknown) => thrown,
  );
  for (let at = error; at !== undefined && at !== null; at = (at as { cause?: unknown }).cause) {
    const code = (at as { code?: unknown }).code;
    if (code === 'body_not_signable') return code;
  }
  return error;
}

function pattern(size: number): Buffer {
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i++) data[i] = (i * 7) % 251;
  return data;
}

describe.each(clients)('%s', (client, send) => {
  it('a body of known length is hashed into the signature, for S3 and for another service', async () => {
    for (const fake of [s3, lambda]) {
      const body = `known body via ${client}`;
      expect((await send(`${fake.url}/bucket/known`, { kind: 'bytes', data: body })).status).toBe(200);
      expect(fake.requests).toHaveLength(1);
      expect(fake.requests[0]).toMatchObject({ verified: true, payloadSigned: true });
      expect(fake.requests[0]!.body.toString()).toBe(body);
    }
  });

  it('a 401 is answered by one retry with the same body, signed again (the caller sees only the retry)', async () => {
    s3.answers.push(401);
    const rejections = gate.rejections;
    const body = `replayed body via ${client}`;
    const answer = await send(`${s3.url}/bucket/replayed`, { kind: 'bytes', data: body });
    expect(answer.status).toBe(200);
    expect(s3.requests).toHaveLength(2);
    for (const request of s3.requests) {
      expect(request).toMatchObject({ verified: true, payloadSigned: true });
      expect(request.body.toString()).toBe(body);
    }
    expect(gate.rejections).toBe(rejections + 1);
  });

  it('header injection: a 401 to a request with a body of known length is retried with the body', async () => {
    api.answers.push({ status: 401 });
    const answer = await send(`${api.url}/v1/charges`, { kind: 'bytes', data: `{"amount":42,"via":"${client}"}` });
    expect(answer.status).toBe(200);
    expect(api.received).toHaveLength(2);
    for (const request of api.received) {
      expect(request.body.toString()).toBe(`{"amount":42,"via":"${client}"}`);
      expect(headerValues(request, 'authorization')).toEqual([`Bearer ${API_KEY}`]);
    }
  });

  it(`a body over ${MAX_REPLAYED_BODY} bytes ${KEEPS_CALLERS_BYTES.has(client) ? 'is retried (the caller holds it)' : 'is not kept for a retry: the 401 reaches the caller'}`, async () => {
    s3.answers.push(401);
    const data = pattern(MAX_REPLAYED_BODY + 1);
    const answer = await send(`${s3.url}/bucket/large`, { kind: 'bytes', data });
    const attempts = KEEPS_CALLERS_BYTES.has(client) ? 2 : 1;
    expect(answer.status).toBe(attempts === 2 ? 200 : 401);
    expect(s3.requests).toHaveLength(attempts);
    for (const request of s3.requests) {
      expect(request).toMatchObject({ verified: true, payloadSigned: true });
      expect(request.body.equals(data)).toBe(true);
    }
  });

  it('a stream of unknown length: hashed where the payload must be signed (plain-http S3, other services)', async () => {
    for (const fake of [s3, lambda]) {
      const data = pattern(200_000);
      expect((await send(`${fake.url}/bucket/stream`, { kind: 'stream', data })).status).toBe(200);
      expect(fake.requests[0]).toMatchObject({ verified: true, payloadSigned: true });
      expect(fake.requests[0]!.body.equals(data)).toBe(true);
    }
  });

  it(`a stream of unknown length to S3 over https: ${WAITS_FOR_STREAM_END.has(client) ? 'hashed (its end is seen first)' : 'UNSIGNED-PAYLOAD'}`, async () => {
    const data = pattern(200_000);
    expect((await send(`${s3Tls.url}/bucket/stream`, { kind: 'stream', data })).status).toBe(200);
    expect(s3Tls.requests[0]).toMatchObject({ verified: true, payloadSigned: WAITS_FOR_STREAM_END.has(client) });
    expect(s3Tls.requests[0]!.body.equals(data)).toBe(true);
  });

  it(`a stream over ${MAX_SIGNED_BODY} bytes: UNSIGNED-PAYLOAD to S3 over https; refused (body_not_signable, nothing sent) over plain http and to other services`, async () => {
    const data = pattern(MAX_SIGNED_BODY + 1);
    expect((await send(`${s3Tls.url}/bucket/huge`, { kind: 'stream', data })).status).toBe(200);
    expect(s3Tls.requests[0]).toMatchObject({ verified: true, payloadSigned: false });
    expect(s3Tls.requests[0]!.body.equals(data)).toBe(true);

    for (const fake of [s3, lambda]) {
      expect(await failureCode(send(`${fake.url}/bucket/huge`, { kind: 'stream', data }))).toBe('body_not_signable');
      expect(fake.requests).toHaveLength(0);
    }
  });

  it(`a body of known length over ${MAX_SIGNED_BODY} bytes: ${HANDS_OVER_WHOLE.has(client) ? 'hashed, handed over whole' : 'as a stream over the limit'}`, async () => {
    const data = pattern(MAX_SIGNED_BODY + 1);
    expect((await send(`${s3Tls.url}/bucket/huge`, { kind: 'bytes', data })).status).toBe(200);
    expect(s3Tls.requests[0]).toMatchObject({ verified: true, payloadSigned: HANDS_OVER_WHOLE.has(client) });
    for (const fake of [s3, lambda]) {
      if (HANDS_OVER_WHOLE.has(client)) {
        expect((await send(`${fake.url}/bucket/huge`, { kind: 'bytes', data })).status).toBe(200);
        expect(fake.requests[0]).toMatchObject({ verified: true, payloadSigned: true });
      } else {
        expect(await failureCode(send(`${fake.url}/bucket/huge`, { kind: 'bytes', data }))).toBe('body_not_signable');
        expect(fake.requests).toHaveLength(0);
      }
    }
  });
});
