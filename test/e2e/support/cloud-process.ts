import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Loopback, where the tests' fake identity providers and token servers listen, for TESSERA_PROVIDER_EGRESS_ALLOW. */
export const LOOPBACK_EGRESS = '127.0.0.0/8,::1';

/** The built CLI, as `npm start` runs it. */
export const CLI = fileURLToPath(new URL('../../../packages/cloud-server/dist/cli.js', import.meta.url));

export interface CloudProcess {
  child: ChildProcess;
  url: string;
  /** The bootstrap admin key, when this start printed one. */
  bootstrapKey: string | undefined;
  output(): string;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `tessera-cloud start` as a real process on a free loopback port and waits until it
 * listens. Uses the Node that runs the tests (the project's Node 24).
 */
export async function startCloud(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CloudProcess> {
  const child = spawn(process.execPath, [CLI, 'start', '--port', '0', ...args], {
    // The tests' identity providers and token servers are fakes on loopback; a test of the egress rule sets its own.
    env: { PATH: process.env.PATH, TESSERA_PROVIDER_EGRESS_ALLOW: LOOPBACK_EGRESS, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 20_000);
    const check = () => {
      const match = /Tessera control plane listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${output}`));
    });
  });
  // The key banner is written before the listening line, so it is already in `output`.
  const bootstrapKey = /Bootstrap admin key[^\n]*\n\n\s+(tsk_[A-Za-z0-9_-]+)/.exec(output)?.[1];
  return {
    child,
    url,
    bootstrapKey,
    output: () => output,
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Runs a CLI command to completion. */
export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code, output };
}

export async function api(
  base: string,
  key: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}
