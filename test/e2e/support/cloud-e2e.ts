import { fork, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { api } from './cloud-process.js';

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** One error of the client's error chain (outermost first), as cloud-client.mjs reports it. */
export interface ClientError {
  name?: string;
  code?: string;
  message: string;
  status?: number;
}

export interface Reply {
  ok: boolean;
  status?: number;
  body?: string;
  errors?: ClientError[];
}

export interface ClientProcess {
  child: ChildProcess;
  call(op: string, args: Record<string, unknown>): Promise<Reply>;
  /** Everything it wrote to stdout and stderr. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts a client script next to this file (default support/cloud-client.mjs) with
 * `--import @tessera/sdk/register` and exactly `env` as its environment (no variable of the test
 * process leaks in), and waits until its first line runs.
 */
export async function startClient(env: Record<string, string>, script = './cloud-client.mjs'): Promise<ClientProcess> {
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

export interface FakesProcess<T> {
  child: ChildProcess;
  info: T;
  /** What the fakes saw and issued (their control endpoint). */
  state(): Promise<any>;
  output(): string;
  stop(): Promise<void>;
}

/** Starts support/cloud-fakes.mjs for `cloud` and waits for the line with its endpoints. */
export async function startFakes<T extends { control: string }>(cloud: 'aws' | 'gcp' | 'azure', env: Record<string, string>): Promise<FakesProcess<T>> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./cloud-fakes.mjs', import.meta.url)), cloud], {
    cwd: ROOT,
    env: { PATH: process.env.PATH!, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const info = await new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`cloud fakes did not start:\n${err}`)), 20_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve(JSON.parse(out.split('\n')[0]!) as T);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`cloud fakes exited with ${code}:\n${err}`));
    });
  });
  return {
    child,
    info,
    state: async () => (await fetch(info.control)).json(),
    output: () => out + err,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill();
      await exited;
    },
  };
}

/** `POST /api/v1/<path>` with the admin key; throws unless it answers 201. */
export function adminClient(cloudUrl: string, key: string) {
  return async (path: string, body: Record<string, unknown>): Promise<{ id: string; resourceSetId?: string }> => {
    const response = await api(cloudUrl, key, 'POST', `/api/v1/${path}`, body);
    if (response.status !== 201) throw new Error(`${path}: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body as { id: string; resourceSetId?: string };
  };
}

/** The `sub` of the JWTs the control plane signs for a client workload (its default format). */
export function workloadSubject(client: { id: string; resourceSetId?: string }): string {
  return `resource-set:${client.resourceSetId}:client-workload:${client.id}`;
}

export interface AuditEvent {
  id: string;
  time: string;
  kind: string;
  outcome: string;
  reason: string | null;
  clientWorkloadId: string | null;
  serverWorkloadId: string | null;
  objectId: string | null;
  data: Record<string, any>;
}

/** Every audit event of `kind`, newest first. */
export async function auditEvents(cloudUrl: string, key: string, kind: string): Promise<AuditEvent[]> {
  const response = await api(cloudUrl, key, 'GET', `/api/v1/audit-events?kind=${encodeURIComponent(kind)}&limit=500`);
  if (response.status !== 200) throw new Error(`audit-events: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body.items as AuditEvent[];
}

export interface RequestMetric {
  time: string;
  clientWorkloadId: string;
  serverWorkloadId: string | null;
  target: string;
  outcome: string;
  statusClass: string | null;
  reason: string | null;
  requests: number;
  latencyBuckets: number[];
}

/** The request metrics matching `query` (e.g. `clientWorkloadId=...`), newest first: one page of 500. */
export async function requestMetrics(cloudUrl: string, key: string, query = ''): Promise<RequestMetric[]> {
  const response = await api(cloudUrl, key, 'GET', `/api/v1/request-metrics?limit=500${query ? `&${query}` : ''}`);
  if (response.status !== 200) throw new Error(`request-metrics: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body.items as RequestMetric[];
}

/** How many requests `rows` count. */
export const requestsIn = (rows: readonly RequestMetric[]): number => rows.reduce((sum, row) => sum + row.requests, 0);

/** Polls `check` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
