import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLI, startCloud, type CloudProcess } from './support/cloud-process.js';

/**
 * `tessera-cloud start` as a real process against what a hostile network or a broken
 * environment does to it: clients that trickle their requests in, and an stdout nobody reads.
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

/** A port that was free a moment ago. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitUntilServing(url: string): Promise<void> {
  for (let i = 0; i < 200; i += 1) {
    if ((await fetch(`${url}/healthz`).catch(() => undefined))?.status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the server did not start serving');
}

describe('stdout that nobody reads', () => {
  it('starts, serves and exits promptly on SIGTERM when the reader of stdout has gone (EPIPE)', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [CLI, 'start', '--port', String(port), '--data', dataDir, '--log-level', 'debug'], {
      env: { PATH: process.env.PATH },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    // Whatever the process writes to stdout from now on meets a closed pipe.
    child.stdout.destroy();
    const url = `http://127.0.0.1:${port}`;
    await waitUntilServing(url);
    for (let i = 0; i < 20; i += 1) expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const signalled = Date.now();
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const { code, signal } = await exited;
    clearTimeout(timer);
    expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' });
    expect(Date.now() - signalled).toBeLessThan(5000);
  }, 30_000);

  it('keeps serving and exits promptly on SIGTERM when the reader of stdout stops reading (full pipe)', async () => {
    const cloud = await startCloud(['--data', dataDir, '--log-level', 'debug']);
    // Stop reading: the pipe fills up (64 KiB) after a few hundred log lines.
    cloud.child.stdout!.pause();
    cloud.child.stdout!.removeAllListeners('data');
    const body = JSON.stringify({ name: 'x'.repeat(2000) });
    for (let i = 0; i < 300; i += 1) {
      const response = await fetch(`${cloud.url}/api/v1/client-workloads?note=${'n'.repeat(500)}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(5000),
      });
      expect(response.status).toBe(401);
    }
    const signalled = Date.now();
    cloud.child.kill('SIGTERM');
    const timer = setTimeout(() => cloud.child.kill('SIGKILL'), 10_000);
    const code = await cloud.exited;
    clearTimeout(timer);
    expect(code).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(5000);
  }, 60_000);
});
