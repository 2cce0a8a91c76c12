import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { baseEnv, killGroup, ROOT } from './support/examples.js';

/**
 * `npm start` and `npm run demo` stop when they are told to: a process manager (or `kill`) sends
 * SIGTERM to the npm process it started, and nothing may be left behind — not the server under
 * npm's shell, not the demo's services.
 */

const groups: number[] = [];
afterEach(() => {
  for (const group of groups.splice(0)) killGroup(group);
});

/** `npm <args>` from the repository root, in a process group of its own (so the test can see what is left of it). */
function npm(args: string[], env: Record<string, string> = {}) {
  const child = spawn('npm', args, { cwd: ROOT, env: baseEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  groups.push(child.pid!);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal === null ? null : 128))));
  return {
    child,
    exited,
    output: () => output,
    async waitFor(pattern: RegExp, timeoutMs = 60_000): Promise<RegExpExecArray> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = pattern.exec(output);
        if (match) return match;
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no ${pattern} in:\n${output}`);
        await sleep(100);
      }
    },
  };
}

const groupAlive = (pid: number) => {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
};

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1', () => (socket.destroy(), resolve(true)));
    socket.on('error', () => resolve(false));
  });

/** Waits until every process npm started is gone; false after `timeoutMs`. */
async function treeGone(pid: number, timeoutMs = 8_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!groupAlive(pid)) return true;
    await sleep(100);
  }
  return false;
}

describe('npm scripts stop on SIGTERM to npm', () => {
  it('npm start: the server closes its port and every process is gone', async () => {
    const data = mkdtempSync(join(tmpdir(), 'tessera-npm-start-'));
    try {
      const run = npm(['start', '--', '--port', '0'], { TESSERA_DATA_DIR: data });
      const port = Number((await run.waitFor(/Tessera control plane listening on http:\/\/127\.0\.0\.1:(\d+)/))[1]);
      expect(await accepts(port)).toBe(true);

      run.child.kill('SIGTERM');
      expect(await treeGone(run.child.pid!), run.output()).toBe(true);
      expect(await accepts(port)).toBe(false);
      expect(run.output()).toContain('shutting down');
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });

  it('npm start: Ctrl-C in its terminal (SIGINT to the whole group, npm passes it on too) drains once and exits 0', async () => {
    const data = mkdtempSync(join(tmpdir(), 'tessera-npm-start-'));
    try {
      const run = npm(['start', '--', '--port', '0'], { TESSERA_DATA_DIR: data });
      await run.waitFor(/Tessera control plane listening on/);
      process.kill(-run.child.pid!, 'SIGINT');
      expect(await run.exited, run.output()).toBe(0);
      expect(run.output().match(/shutting down/g)).toHaveLength(1);
      expect(await treeGone(run.child.pid!)).toBe(true);
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });

  it('npm run demo -- --keep-running: every service stops', async () => {
    const run = npm(['run', 'demo', '--', '--keep-running']);
    await run.waitFor(/curl http:\/\/127\.0\.0\.1:\d+\/call\/payments/, 90_000);
    const ports = [...new Set([...run.output().matchAll(/http:\/\/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1])))];
    expect(ports.length).toBeGreaterThan(2);

    run.child.kill('SIGTERM');
    expect(await treeGone(run.child.pid!), run.output()).toBe(true);
    for (const port of ports) expect(await accepts(port), `port ${port}`).toBe(false);
  });
});
