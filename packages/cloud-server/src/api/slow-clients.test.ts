import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../../test/support/store-backends.js';
import { createTestApp, type TestApp } from '../../test/support/app-harness.js';

/**
 * Slow clients over real sockets: a client that trickles its headers, or its body, one byte at a
 * time is cut off within the configured bound (with a 408 when a response can still be written),
 * and the server keeps answering everyone else meanwhile.
 */

const HEADERS_MS = 1000;
const REQUEST_MS = 2000;
/** Node checks deadlines once a second; allow that and some scheduling slack on a busy machine. */
const SLACK_MS = 2500;
const TRICKLE_EVERY_MS = 200;

interface Trickled {
  /** When the server closed the connection, from the first byte sent. */
  closedAfterMs: number;
  answer: string;
}

/** Sends `head` at once, then `trickle` one byte every 200 ms, until the server closes the socket. */
function trickle(port: number, head: string, trickled: string): Promise<Trickled> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, '127.0.0.1');
    let answer = '';
    let index = 0;
    let timer: NodeJS.Timeout | undefined;
    const started = Date.now();
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('error', () => {}); // a reset is one way of being cut off
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ closedAfterMs: Date.now() - started, answer });
    });
    socket.on('connect', () => {
      if (head) socket.write(head);
      timer = setInterval(() => {
        if (index >= trickled.length) return reject(new Error('the whole request was sent without the server closing the connection'));
        if (socket.writable) socket.write(trickled[index++]!);
      }, TRICKLE_EVERY_MS);
    });
  });
}

describe('slow clients', () => {
  let t: TestApp;
  let port: number;

  beforeAll(async () => {
    t = await createTestApp(BACKENDS[0]!, { app: { timeouts: { headersMs: HEADERS_MS, requestMs: REQUEST_MS } } });
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    port = (t.app.server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await t.close();
  });

  /** Health checks every 100 ms while `during` runs; returns their statuses. */
  async function meanwhile<T>(during: Promise<T>): Promise<{ result: T; statuses: number[] }> {
    const statuses: number[] = [];
    let done = false;
    const probing = (async () => {
      while (!done) {
        const response = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
        statuses.push(response?.status ?? 0);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const result = await during;
    done = true;
    await probing;
    return { result, statuses };
  }

  it('closes a connection whose headers trickle in, with a 408, within the headers timeout', async () => {
    const headers = `POST /api/v1/client-workloads HTTP/1.1\r\nHost: tessera.test\r\nAuthorization: Bearer ${t.rootKey}\r\n${'X-Slow: y\r\n'.repeat(100)}\r\n`;
    const { result, statuses } = await meanwhile(trickle(port, '', headers));
    expect(result.closedAfterMs).toBeGreaterThanOrEqual(HEADERS_MS - 100);
    expect(result.closedAfterMs).toBeLessThan(HEADERS_MS + SLACK_MS);
    expect(result.answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(result.answer).toContain('"code":"request_timeout"');
    expect(statuses.length).toBeGreaterThan(3);
    expect(statuses.every((status) => status === 200)).toBe(true);
  }, 15_000);

  it('closes a connection whose body trickles in within the request timeout', async () => {
    const body = JSON.stringify({ name: 'slow', identities: [{ claim: 'a', value: 'b' }], description: 'x'.repeat(200) });
    const head =
      `POST /api/v1/client-workloads HTTP/1.1\r\nHost: tessera.test\r\nAuthorization: Bearer ${t.rootKey}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
    const { result, statuses } = await meanwhile(trickle(port, head, body));
    expect(result.closedAfterMs).toBeGreaterThanOrEqual(REQUEST_MS - 100);
    expect(result.closedAfterMs).toBeLessThan(REQUEST_MS + SLACK_MS);
    expect(result.answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(statuses.length).toBeGreaterThan(5);
    expect(statuses.every((status) => status === 200)).toBe(true);
    // Nothing of the cut-off request was stored.
    expect((await t.call('GET', '/api/v1/client-workloads?name=slow')).body.items).toEqual([]);
  }, 15_000);

  it('answers a client that sends at a normal pace', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/api/v1/client-workloads`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.rootKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'prompt', identities: [{ claim: 'a', value: 'b' }] }),
    });
    expect(response.status).toBe(201);
  });
});
