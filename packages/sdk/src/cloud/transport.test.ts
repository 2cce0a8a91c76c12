import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpTransport, TransportError } from './transport.js';

/** A real server on loopback whose answer depends on the path. */
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (chunk: Buffer) => (body += chunk.toString()));
  req.on('end', () => {
    if (req.url === '/echo') {
      res.writeHead(201, { 'content-type': 'application/json', 'retry-after': '7' });
      res.end(JSON.stringify({ body: JSON.parse(body), dpop: req.headers.dpop, type: req.headers['content-type'] }));
    } else if (req.url === '/huge') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`"${'x'.repeat(2 * 1024 * 1024)}"`);
    } else if (req.url === '/text') {
      res.end('not json');
    } else if (req.url !== '/slow') {
      res.writeHead(404);
      res.end();
    }
    // '/slow': never answers
  });
});
let base = '';

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('createHttpTransport', () => {
  it('posts JSON with the given headers and returns status, parsed body and Retry-After', async () => {
    const transport = createHttpTransport({ cloudUrl: base.replace('', '') });
    const answer = await transport.post({ path: '/echo', headers: { dpop: 'proof' }, body: { a: 1 }, timeoutMs: 2000 });
    expect(answer).toEqual({ status: 201, body: { body: { a: 1 }, dpop: 'proof', type: 'application/json' }, retryAfter: '7' });
    expect((await transport.post({ path: '/text', headers: {}, body: {}, timeoutMs: 2000 })).body).toBeUndefined();
    transport.close();
  });

  it('refuses answers over 1 MiB, not to be retried', async () => {
    const transport = createHttpTransport({ cloudUrl: base.replace('', '') });
    const error = await transport.post({ path: '/huge', headers: {}, body: {}, timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect(error).toMatchObject({ retryable: false, message: 'the answer exceeds 1048576 bytes' });
    transport.close();
  });

  it('goes through the proxy HTTP_PROXY names, except to hosts NO_PROXY lists', async () => {
    const forwarded: string[] = [];
    const proxy = http.createServer((req, res) => {
      forwarded.push(`${req.method} ${req.url}`);
      const upstream = http.request(req.url!, { method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      });
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const saved = { HTTP_PROXY: process.env.HTTP_PROXY, NO_PROXY: process.env.NO_PROXY };
    process.env.HTTP_PROXY = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    try {
      const viaProxy = createHttpTransport({ cloudUrl: `${base}/prefix` });
      expect((await viaProxy.post({ path: '/echo', headers: {}, body: { a: 1 }, timeoutMs: 2000 })).status).toBe(404);
      expect(forwarded).toEqual([`POST ${base}/prefix/echo`]);
      process.env.NO_PROXY = '127.0.0.1';
      expect((await viaProxy.post({ path: '/echo', headers: {}, body: { a: 1 }, timeoutMs: 2000 })).status).toBe(404);
      expect(forwarded).toHaveLength(1);
      viaProxy.close();
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it('bounds each call with its timeout, and reports refused connections as retryable', async () => {
    const transport = createHttpTransport({ cloudUrl: base.replace('', '') });
    const started = Date.now();
    await expect(transport.post({ path: '/slow', headers: {}, body: {}, timeoutMs: 150 })).rejects.toMatchObject({ retryable: true, message: 'no answer within 150 ms' });
    expect(Date.now() - started).toBeLessThan(1000);
    transport.close();
    const closed = createHttpTransport({ cloudUrl: 'http://127.0.0.1:1' });
    await expect(closed.post({ path: '/x', headers: {}, body: {}, timeoutMs: 1000 })).rejects.toMatchObject({ retryable: true, message: expect.stringContaining('ECONNREFUSED') });
    closed.close();
  });

  it('connects at the first call, and refuses calls once closed', async () => {
    const unused = createHttpTransport({ cloudUrl: base });
    unused.close(); // nothing to close yet
    const error = await unused.post({ path: '/echo', headers: {}, body: {}, timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect(error).toMatchObject({ message: 'the connection to the cloud is closed', retryable: false });
  });
});
