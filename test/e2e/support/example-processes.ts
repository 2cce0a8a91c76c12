import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root: examples are run from there, as their READMEs say. */
export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/**
 * Example programs run as real processes with `node <args>` from the repository root, with only
 * PATH and the given variables in their environment. `node` is the Node that runs the tests.
 */
const running = new Set<ChildProcess>();

export interface ExampleService {
  child: ChildProcess;
  /** The JSON line the service printed when it was ready. */
  ready: Record<string, any>;
  /** Every later stdout line that is JSON, parsed. */
  lines(): Record<string, any>[];
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
}

function launch(args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.on('exit', () => running.delete(child));
  return child;
}

/** Starts a long-running example; resolves once it has printed its first (JSON) line. */
export function startExample(args: string[], env: Record<string, string>): Promise<ExampleService> {
  const child = launch(args, env);
  let output = '';
  let stdout = '';
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    stdout += chunk.toString();
  });
  const jsonLines = () =>
    stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, any>);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')} was not ready in time:\n${output}`)), 30_000);
    const check = () => {
      if (!stdout.includes('\n')) return;
      clearTimeout(timer);
      child.stdout!.off('data', check);
      resolve({ child, ready: jsonLines()[0]!, lines: () => jsonLines().slice(1), output: () => output });
    };
    child.stdout!.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(' ')} exited with ${code} before it was ready:\n${output}`));
    });
  });
}

/** Runs an example to completion. */
export function runExample(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = launch(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** Stops every example process still running and waits until they are gone. */
export async function stopExamples(): Promise<void> {
  const children = [...running];
  const exits = children.map((child) => new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once('exit', resolve))));
  for (const child of children) child.kill('SIGTERM');
  const stubborn = setTimeout(() => children.forEach((child) => child.kill('SIGKILL')), 5_000);
  await Promise.all(exits);
  clearTimeout(stubborn);
}
