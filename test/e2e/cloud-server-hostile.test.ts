import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { startCloud, type CloudProcess } from './support/cloud-process.js';

/**
 * `tessera-cloud start` as a real process against what a hostile network does to it: clients
 * that trickle their requests in.
 */

let dataDir: string;
const running: CloudProcess[] = [];
beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'tessera-e2e-hostile-'));
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((cloud) => cloud.stop('SIGKILL')));
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** Sends `text` one byte every 200 ms until the server closes the connection; resolves with what it answered and when. */
function trickle(port: number, text: string): Promise<{ afterMs: number; answer: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const started = Date.now();
    let answer = '';
    let sent = 0;
    const timer = setInterval(() => {
      if (sent >= text.length) return reject(new Error('sent the whole request without being cut off'));
      if (socket.writable) socket.write(text[sent++]!);
    }, 200);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ afterMs: Date.now() - started, answer });
    });
  });
}

it('cuts off a client that trickles its headers, within --headers-timeout-ms', async () => {
  const cloud = await startCloud(['--data', dataDir, '--headers-timeout-ms', '1000', '--request-timeout-ms', '2000']);
  running.push(cloud);
  const port = Number(new URL(cloud.url).port);
  const { afterMs, answer } = await trickle(port, `GET /healthz HTTP/1.1\r\nHost: x\r\n${'X-Slow: y\r\n'.repeat(50)}\r\n`);
  expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  expect(afterMs).toBeGreaterThanOrEqual(900);
  expect(afterMs).toBeLessThan(4000);
  expect((await fetch(`${cloud.url}/healthz`)).status).toBe(200);
});
