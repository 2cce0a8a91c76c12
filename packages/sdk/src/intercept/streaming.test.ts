import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultProxy, IDP_ISSUER, startTestCloud, testCollector, TestIdp, type TestCloud } from '../../test/support/test-cloud.js';
import { init, shutdown } from '../init.js';
import { captureLogs } from '../../test/support/world.js';

/**
 * 100 MB each way through the interceptors `init()` installs, for Node's built-in fetch (a
 * `ReadableStream` request body, `duplex: 'half'`) and `node:http` (piped), to an unmanaged and
 * to a managed (header-injected) loopback target. Bodies are generated and hashed chunk by chunk
 * on both sides, never held whole, and the interceptors must stream them too. Two measures:
 *
 * - bytes in flight: how far the sender got ahead of the receiver, checked at every chunk — a
 *   body buffered anywhere on the way shows as a gap of the whole body. Exact, GC-independent.
 * - the process's RSS, sampled during the transfer. The first transfer through a code path
 *   grows the heap and the allocator's arenas by 80-200 MB even without Tessera (garbage 64 KiB
 *   buffers V8 collects lazily), so each client makes one transfer before `init()` (the
 *   without-Tessera figures to compare with), and fetch one more after it, because with Tessera
 *   the built-in fetch runs over npm undici's Agent instead of Node's bundled one. Measured from
 *   that steady state, RSS growth only says the transfer did not need much more memory; the
 *   in-flight figures are the ones that would catch a buffered body.
 */

const SIZE = 100 * 1024 * 1024;
const CHUNK = 64 * 1024;
/**
 * Peak RSS growth allowed during one transfer beyond what the same client grew without Tessera
 * in this process. Not an absolute bound: without Tessera, fetch has grown by 146 MiB in one run
 * (garbage V8 had not collected yet). The in-flight bound is the one that catches a buffered body.
 */
const MAX_RSS_GROWTH_OVER_BASELINE = 64 * 1024 * 1024;
/** Sender ahead of receiver at most this much: socket buffers and stream queues, not a body. */
const MAX_IN_FLIGHT = 16 * 1024 * 1024;
const API_KEY = 'sk_live_streaming_c0de_never_in_logs';
const MiB = 1024 * 1024;

/** A 64 KiB block of a deterministic pattern; each chunk stamps its index on a copy of it. */
const BLOCK = Buffer.alloc(CHUNK);
for (let i = 0; i < CHUNK; i++) BLOCK[i] = (i * 31 + 7) % 251;

/** Bytes of the transfer under way, both directions: the sender's count is checked against the receiver's at every chunk. */
const flow = { upSent: 0, upReceived: 0, downSent: 0, downReceived: 0, maxUpInFlight: 0, maxDownInFlight: 0 };

function resetFlow(): void {
  for (const key of Object.keys(flow) as Array<keyof typeof flow>) flow[key] = 0;
}

/**
 * The body: SIZE bytes in fresh 64 KiB chunks (a chunk may still be queued when the next is
 * made). `direction` names the sender, whose lead over the receiver is recorded as it pulls.
 */
function* patternChunks(direction?: 'up' | 'down'): Generator<Buffer> {
  for (let offset = 0, index = 0; offset < SIZE; offset += CHUNK, index++) {
    const chunk = Buffer.allocUnsafe(Math.min(CHUNK, SIZE - offset));
    BLOCK.copy(chunk, 0, 0, chunk.length);
    chunk.writeUInt32BE(index, 0);
    if (direction === 'up') {
      flow.upSent += chunk.length;
      flow.maxUpInFlight = Math.max(flow.maxUpInFlight, flow.upSent - flow.upReceived);
    } else if (direction === 'down') {
      flow.downSent += chunk.length;
      flow.maxDownInFlight = Math.max(flow.maxDownInFlight, flow.downSent - flow.downReceived);
    }
    yield chunk;
  }
}

/** The SHA-256 of the body, computed the same way the body is produced (once, chunk by chunk). */
function patternHash(): string {
  const hash = createHash('sha256');
  for (const chunk of patternChunks()) hash.update(chunk);
  return hash.digest('hex');
}

interface Upload {
  url: string;
  authorization: string[];
  bytes: number;
  sha256: string;
}

interface StreamServer {
  url: string;
  port: number;
  uploads: Upload[];
  close(): Promise<void>;
}

/** Hashes what it receives, then answers with the 100 MB body. */
async function startStreamServer(): Promise<StreamServer> {
  const uploads: Upload[] = [];
  const server = http.createServer((req, res) => {
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
      flow.upReceived += chunk.length;
    });
    req.on('end', () => {
      const authorization: string[] = [];
      for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === 'authorization') authorization.push(req.rawHeaders[i + 1]!);
      uploads.push({ url: req.url ?? '', authorization, bytes, sha256: hash.digest('hex') });
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': SIZE });
      pipeline(Readable.from(patternChunks('down')), res).catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    uploads,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Measured<T> {
  result: T;
  startRss: number;
  peakGrowth: number;
  seconds: number;
  maxUpInFlight: number;
  maxDownInFlight: number;
}

/** Runs `transfer`, sampling the RSS meanwhile; its result, the peak RSS growth and the flow figures. */
async function measured<T>(transfer: () => Promise<T>): Promise<Measured<T>> {
  resetFlow();
  const startRss = process.memoryUsage.rss();
  let peak = startRss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 10);
  const started = performance.now();
  try {
    const result = await transfer();
    peak = Math.max(peak, process.memoryUsage.rss());
    const seconds = (performance.now() - started) / 1000;
    return { result, startRss, peakGrowth: peak - startRss, seconds, maxUpInFlight: flow.maxUpInFlight, maxDownInFlight: flow.maxDownInFlight };
  } finally {
    clearInterval(timer);
  }
}

/** The SHA-256 and length of a response body, read chunk by chunk. */
async function hashOf(body: AsyncIterable<Uint8Array>): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of body) {
    hash.update(chunk);
    bytes += chunk.byteLength;
    flow.downReceived += chunk.byteLength;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** Built-in fetch: a ReadableStream request body (half duplex), the response body read as a stream. */
async function viaFetch(url: string): Promise<{ status: number; sha256: string; bytes: number }> {
  const body = ReadableStream.from(patternChunks('up'));
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', authorization: 'Bearer app-set' },
    body,
    duplex: 'half',
  } as RequestInit & { duplex: 'half' });
  return { status: response.status, ...(await hashOf(response.body!)) };
}

/** node:http: the body piped into the request (with a Content-Length), the response hashed as it arrives. */
async function viaHttp(url: string): Promise<{ status: number; sha256: string; bytes: number }> {
  const req = http.request(url, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': SIZE, authorization: 'Bearer app-set' },
  });
  const response = new Promise<http.IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  const [, res] = await Promise.all([pipeline(Readable.from(patternChunks('up')), req), response]);
  return { status: res.statusCode ?? 0, ...(await hashOf(res)) };
}

let expected: string;
let idp: TestIdp;
let proxy: FaultProxy;
let cloud: TestCloud;
let unmanaged: StreamServer;
/** Managed, one per client: each client's first request waits for its credential. */
let managedFetch: StreamServer;
let managedHttp: StreamServer;
const { logger, lines: logLines } = captureLogs();
const figures: string[] = [];
/** Each client's peak RSS growth over one transfer without Tessera. */
const baselineGrowth = new Map<string, number>();

function record(client: string, kind: string, m: Measured<unknown>): void {
  figures.push(
    `  ${client.padEnd(9)} ${kind.padEnd(21)} ${m.seconds.toFixed(2)} s, ${((2 * SIZE) / MiB / m.seconds).toFixed(0).padStart(3)} MiB/s (both ways), ` +
      `in flight ≤ ${(m.maxUpInFlight / MiB).toFixed(1)} MiB up / ${(m.maxDownInFlight / MiB).toFixed(1)} MiB down, ` +
      `RSS ${(m.startRss / MiB).toFixed(0)} MiB at start, peak growth ${(m.peakGrowth / MiB).toFixed(1)} MiB`,
  );
}

beforeAll(async () => {
  expected = patternHash();
  idp = new TestIdp();
  proxy = new FaultProxy();
  await proxy.listen();
  cloud = await startTestCloud(proxy.url);
  proxy.upstream = cloud.server.listeningUrl;
  [unmanaged, managedFetch, managedHttp] = await Promise.all([startStreamServer(), startStreamServer(), startStreamServer()]);

  const post = (plural: string, body: object) => cloud.admin('POST', `/api/v1/${plural}`, body);
  const trust = await post('trust-providers', { name: 'idp', type: 'oidc', config: { issuer: IDP_ISSUER, jwks: { keys: [idp.publicJwk] }, algorithms: ['ES256'] } });
  const client = await post('client-workloads', { name: 'streamer', identities: [{ claim: 'oidc.subject', value: 'svc-streamer' }] });
  const key = await post('credential-providers', { name: 'key', type: 'api-key', secrets: { apiKey: API_KEY } });
  for (const [name, target] of [['managed-fetch', managedFetch], ['managed-http', managedHttp]] as const) {
    const server = await post('server-workloads', { name, scheme: 'http', host: '127.0.0.1', port: target.port, injection: { kind: 'header', name: 'authorization' } });
    await post('access-policies', { name, clientWorkloadIds: [client.id], serverWorkloadId: server.id, trustProviderIds: [trust.id], credentialProviderId: key.id });
  }
  // Without Tessera: each client once, to reach the steady-state RSS (and to compare with).
  for (const [client, transfer] of [['fetch', viaFetch], ['node:http', viaHttp]] as const) {
    const warmup = await measured(() => transfer(`${unmanaged.url}/warm-up`));
    expect(warmup.result.sha256).toBe(expected);
    record(client, 'without Tessera', warmup);
    baselineGrowth.set(client, warmup.peakGrowth);
  }
  await init({ cloudUrl: proxy.url, collectors: [testCollector(idp, { subject: 'svc-streamer' })], logger, events: { flushIntervalMs: 0 } });
  const warmup = await measured(() => viaFetch(`${unmanaged.url}/warm-up-undici-agent`));
  expect(warmup.result.sha256).toBe(expected);
  record('fetch', 'warm-up (Tessera)', warmup);
}, 60_000);

afterAll(async () => {
  await shutdown();
  await Promise.all([unmanaged, managedFetch, managedHttp].map((server) => server?.close()));
  await proxy?.close();
  await cloud?.close();
  console.log(`streaming figures (100 MiB each way):\n${figures.join('\n')}`);
  const text = logLines.join('\n');
  for (const secret of [API_KEY, ...proxy.edgeTokens, ...idp.minted]) expect(text).not.toContain(secret);
});

const cases = [
  { client: 'fetch', transfer: viaFetch },
  { client: 'node:http', transfer: viaHttp },
] as const;

describe.each(cases)('$client: 100 MiB up and 100 MiB down', ({ client, transfer }) => {
  async function run(kind: 'unmanaged' | 'managed', server: StreamServer): Promise<Upload> {
    const path = `/stream/${client === 'fetch' ? 'fetch' : 'http'}/${kind}`;
    const uploads = server.uploads.length;
    const m = await measured(() => transfer(`${server.url}${path}`));
    record(client, `${kind} (Tessera)`, m);
    const { result } = m;
    expect(result.status).toBe(200);
    expect(result.bytes).toBe(SIZE);
    expect(result.sha256).toBe(expected);
    expect(server.uploads.length).toBe(uploads + 1);
    const upload = server.uploads.at(-1)!;
    expect(upload.url).toBe(path);
    expect(upload.bytes).toBe(SIZE);
    expect(upload.sha256).toBe(expected);
    expect(m.maxUpInFlight).toBeLessThan(MAX_IN_FLIGHT);
    expect(m.maxDownInFlight).toBeLessThan(MAX_IN_FLIGHT);
    expect(m.peakGrowth).toBeLessThan(Math.max(0, baselineGrowth.get(client)!) + MAX_RSS_GROWTH_OVER_BASELINE);
    return upload;
  }

  it('unmanaged: streamed untouched, no cloud call', { timeout: 20_000 }, async () => {
    const calls = [...proxy.counts.values()].reduce((a, b) => a + b, 0);
    const upload = await run('unmanaged', unmanaged);
    expect(upload.authorization).toEqual(['Bearer app-set']);
    expect([...proxy.counts.values()].reduce((a, b) => a + b, 0)).toBe(calls);
  });

  it('managed: the credential is fetched while the body waits, then the body streams', { timeout: 20_000 }, async () => {
    const asked = proxy.count('/edge/v1/credentials');
    const upload = await run('managed', client === 'fetch' ? managedFetch : managedHttp);
    expect(upload.authorization).toEqual([`Bearer ${API_KEY}`]);
    expect(proxy.count('/edge/v1/credentials')).toBe(asked + 1);
  });
});
