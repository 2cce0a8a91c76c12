// Starting and stopping the demo's processes. Each service prints one JSON line when it is ready.
import { spawn } from 'node:child_process';

const running = new Set();

/** Starts `node [execArgv] script`, resolves with the first JSON line it prints. */
export function startService(name, script, { env = {}, execArgv = [], cwd } = {}) {
  const child = spawn(process.execPath, [...execArgv, script], {
    cwd,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.on('exit', () => running.delete(child));
  let output = '';
  child.stderr.on('data', (chunk) => (output += chunk));
  return new Promise((resolve, reject) => {
    let line = '';
    const onData = (chunk) => {
      line += chunk;
      const end = line.indexOf('\n');
      if (end < 0) return;
      child.stdout.off('data', onData);
      child.stdout.resume(); // keep draining: a full pipe would block the service
      resolve({ child, ...JSON.parse(line.slice(0, end)), output: () => output });
    };
    child.stdout.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${name} exited with code ${code} before it was ready:\n${output}`)));
  });
}

/**
 * Starts the control plane's CLI; resolves with its URL and the bootstrap admin key it printed.
 * The SDKs may report request metrics every second (the default is every 10 s), so that the
 * demo shows them at once. The demo's cluster issuer runs on loopback, which providers may reach
 * only when the operator allows it.
 */
export function startControlPlane(cli, dataDir) {
  const args = ['start', '--port', '0', '--data', dataDir, '--log-level', 'warn', '--metrics-interval', '1', '--provider-egress-allow', '127.0.0.1'];
  const child = spawn(process.execPath, [cli, ...args], {
    env: { PATH: process.env.PATH },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.on('exit', () => running.delete(child));
  let output = '';
  return new Promise((resolve, reject) => {
    const check = () => {
      const url = /Tessera control plane listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
      if (url === undefined) return;
      const adminKey = /Bootstrap admin key[^\n]*\n\n\s+(tsk_[A-Za-z0-9_-]+)/.exec(output)?.[1];
      resolve({ child, url, adminKey });
    };
    child.stdout.on('data', (chunk) => ((output += chunk), check()));
    child.stderr.on('data', (chunk) => ((output += chunk), check()));
    child.on('exit', (code) => reject(new Error(`the control plane exited with code ${code}:\n${output}`)));
  });
}

/** Stops every process started here and waits until they are gone. */
export async function stopAll() {
  const exits = [...running].map((child) => new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', resolve))));
  for (const child of running) child.kill('SIGTERM');
  await Promise.all(exits);
}
