import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ROOT, startFakes, type ClientProcess, type FakesProcess, type Reply } from './cloud-e2e.js';

/**
 * What cloud-e2e.ts's startClient does, for another client script: starts `script` (next to
 * this file) with `--import @tessera/sdk/register` and exactly `env` as its environment, and
 * waits until its first line runs. (startClient always runs cloud-client.mjs, whose fetch sends
 * no headers; Azure Storage needs `x-ms-version`.)
 */
export async function startScriptClient(script: string, env: Record<string, string>): Promise<ClientProcess> {
  const child = fork(fileURLToPath(new URL(script, import.meta.url)), [], {
    cwd: ROOT,
    execArgv: ['--import', '@tessera/sdk/register'],
    env,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const pending = new Map<number, (reply: Reply) => void>();
  let nextId = 0;
  await new Promise<void>((resolve, reject) => {
    child.on('message', (message: { ready?: boolean; id?: number } & Reply) => {
      if (message.ready) resolve();
      else pending.get(message.id!)?.(message);
    });
    child.on('exit', (code) => reject(new Error(`client exited with ${code}:\n${output}`)));
  });
  return {
    child,
    call: (op, args) =>
      new Promise((resolve) => {
        const id = (nextId += 1);
        pending.set(id, resolve);
        child.send({ id, op, args });
      }),
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill();
      await exited;
    },
  };
}

/** startFakes for `cloud-fakes.mjs azure` (startFakes' parameter type names only aws and gcp). */
export function startAzureFakes<T extends { control: string }>(env: Record<string, string>): Promise<FakesProcess<T>> {
  return startFakes<T>('azure' as Parameters<typeof startFakes>[0], env);
}
