import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { adminClient, ROOT, startClient, type ClientProcess } from './cloud-e2e.js';
import { startCloud, type CloudProcess } from './cloud-process.js';
import { startFakeIssuer } from './fake-services.js';

/**
 * The world of the SDK's fail-safe tests: a real control plane process behind a TLS front (the
 * "gate") that the test can make answer 503 or hang, a closed port, a forward/CONNECT proxy that
 * counts what passes, protected targets that record what reaches them, and the application
 * (support/failsafe-app.mjs) started with `--import @tessera/sdk/register`.
 */

const APP = fileURLToPath(new URL('./failsafe-app.mjs', import.meta.url));
/** The same without the register hook: a library using `new Tessera()` (explicit mode). */
export const EXPLICIT_APP = fileURLToPath(new URL('./explicit-app.mjs', import.meta.url));
export const API_KEY = 'sk_live_failsafe_e2e_51d7';

// A self-signed certificate for localhost / 127.0.0.1, valid 2020–2120 (test use only).
const CERT_FILE = fileURLToPath(new URL('../../fixtures/tls/localhost-cert.pem', import.meta.url));
const CERT = readFileSync(CERT_FILE, 'utf8');
const KEY = readFileSync(new URL('../../fixtures/tls/localhost-key.pem', import.meta.url), 'utf8');

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** The control plane's front: forwards, answers 503, or accepts and never answers. */
export class Gate {
  mode: 'forward' | 'unavailable' | 'hang' = 'forward';
  readonly counts = new Map<string, number>();
  upstream = '';
  url = '';
  readonly #server = https.createServer({ cert: CERT, key: KEY }, (req, res) => this.#handle(req, res));

  async listen(): Promise<void> {
    this.url = `https://127.0.0.1:${await listen(this.#server)}`;
  }

  count(path: string): number {
    return this.counts.get(path) ?? 0;
  }

  /** Drops every connection (hanging ones included). */
  reset(mode: Gate['mode']): void {
    this.mode = mode;
    this.#server.closeAllConnections();
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = req.url ?? '/';
    this.counts.set(path, this.count(path) + 1);
    if (this.mode === 'hang') return;
    if (this.mode === 'unavailable') {
      req.resume();
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end('{"code":"unavailable","message":"maintenance"}');
      return;
    }
    const forward = http.request(`${this.upstream}${path}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  }
}

/** An HTTP proxy on loopback: absolute-form requests are forwarded, CONNECT is tunnelled; both counted. */
export class CountingProxy {
  readonly forwarded: string[] = [];
  readonly tunnels: string[] = [];
  url = '';
  readonly #sockets = new Set<Socket>();
  readonly #server = http.createServer((req, res) => {
    this.forwarded.push(`${req.method} ${req.url}`);
    const target = new URL(req.url ?? '');
    const forward = http.request(target, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });

  constructor() {
    this.#server.on('connect', (req: http.IncomingMessage, client: Socket, head: Buffer) => {
      this.tunnels.push(req.url ?? '');
      const [host, port] = (req.url ?? '').split(':');
      const upstream = net.connect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on('close', () => this.#sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
    });
  }

  async listen(): Promise<void> {
    this.url = `http://127.0.0.1:${await listen(this.#server)}`;
  }

  close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

export interface Target {
  url: string;
  received: Array<{ url: string; authorization: string[] }>;
  close(): Promise<void>;
}

/** A protected API that records every request and its Authorization headers. */
async function startTarget(): Promise<Target> {
  const received: Target['received'] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    received.push({ url: req.url ?? '', authorization: req.rawHeaders.filter((_, i, all) => i % 2 === 1 && all[i - 1]!.toLowerCase() === 'authorization') });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port on loopback nothing listens on: connections are refused. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface AppRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout, one parsed JSON line each. */
  lines: Array<Record<string, any>>;
  stderr: string;
  ms: number;
}

export interface World {
  gate: Gate;
  cloud: CloudProcess;
  adminKey: string;
  /** Managed, allowed: gets `Bearer API_KEY`. */
  api: Target;
  /** Managed, denied by a closed time window (`condition_failed`). */
  ledger: Target;
  /** `http://127.0.0.1:<port>` where connections are refused. */
  refusedUrl: string;
  /** The environment of an application with no secret: cloud URL, OIDC token, CA of the gate. */
  env: Record<string, string>;
  /** Runs the application (or `script`, without the register hook) to its end (killed after `timeoutMs`). */
  runApp(
    env: Record<string, string>,
    options?: { nodeArgs?: string[]; script?: string; timeoutMs?: number; onLine?: (line: Record<string, any>, child: ReturnType<typeof spawn>) => void },
  ): Promise<AppRun>;
  /** The application driven over IPC (calls: `fetch` / `http` with `{ url }`). */
  startApp(env: Record<string, string>): Promise<ClientProcess>;
  close(): Promise<void>;
}

export async function startWorld(): Promise<World> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-e2e-failsafe-'));
  const issuer = await startFakeIssuer();
  const gate = new Gate();
  await gate.listen();
  const cloud = await startCloud(['--data', dataDir, '--public-url', gate.url]);
  gate.upstream = cloud.url;
  const adminKey = cloud.bootstrapKey!;
  const admin = adminClient(cloud.url, adminKey);
  const [api, ledger] = await Promise.all([startTarget(), startTarget()]);

  const trust = await admin('trust-providers', { name: 'cluster', type: 'oidc', config: { issuer: issuer.issuer, discovery: true, algorithms: ['ES256'] } });
  const orders = await admin('client-workloads', { name: 'orders', identities: [{ claim: 'oidc.subject', value: 'system:serviceaccount:shop:orders' }] });
  const key = await admin('credential-providers', { name: 'api-key', type: 'api-key', secrets: { apiKey: API_KEY } });
  const server = (name: string, url: string) => {
    const { port } = new URL(url);
    return admin('server-workloads', { name, scheme: 'http', host: '127.0.0.1', port: Number(port), injection: { kind: 'header', name: 'authorization' } });
  };
  const apiServer = await server('api', api.url);
  const ledgerServer = await server('ledger', ledger.url);
  const at = new Date(Date.now() + 12 * 3600_000);
  const hhmm = (d: Date) => `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
  const night = await admin('access-conditions', { name: 'night-only', type: 'time-window', config: { timeZone: 'UTC', start: hhmm(at), end: hhmm(new Date(at.getTime() + 60_000)) } });
  const policy = { clientWorkloadIds: [orders.id], trustProviderIds: [trust.id], credentialProviderId: key.id };
  await admin('access-policies', { name: 'orders-api', serverWorkloadId: apiServer.id, ...policy });
  await admin('access-policies', { name: 'orders-ledger', serverWorkloadId: ledgerServer.id, accessConditionIds: [night.id], ...policy });

  const token = await issuer.sign({}, { audience: gate.url, subject: 'system:serviceaccount:shop:orders', expiresIn: '2h' });
  const env = { PATH: process.env.PATH!, TESSERA_CLOUD_URL: gate.url, TESSERA_OIDC_TOKEN: token, NODE_EXTRA_CA_CERTS: CERT_FILE };
  const refusedUrl = `http://127.0.0.1:${await closedPort()}`;
  const apps = new Set<ClientProcess>();

  return {
    gate,
    cloud,
    adminKey,
    api,
    ledger,
    refusedUrl,
    env,
    runApp(appEnv, options = {}) {
      const started = Date.now();
      const args = options.script === undefined ? ['--import', '@tessera/sdk/register', APP] : [options.script];
      const child = spawn(process.execPath, [...(options.nodeArgs ?? []), ...args], { cwd: ROOT, env: appEnv, stdio: ['ignore', 'pipe', 'pipe'] });
      const lines: AppRun['lines'] = [];
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        for (let end = stdout.indexOf('\n'); end >= 0; end = stdout.indexOf('\n')) {
          const line = JSON.parse(stdout.slice(0, end)) as Record<string, any>;
          stdout = stdout.slice(end + 1);
          lines.push(line);
          options.onLine?.(line, child);
        }
      });
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const killer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
      return new Promise((resolve) =>
        child.on('close', (code, signal) => {
          clearTimeout(killer);
          resolve({ code, signal, lines, stderr, ms: Date.now() - started });
        }),
      );
    },
    async startApp(appEnv) {
      const app = await startClient(appEnv, './failsafe-app.mjs');
      apps.add(app);
      return app;
    },
    async close() {
      for (const app of apps) await app.stop();
      await Promise.all([api.close(), ledger.close(), gate.close(), issuer.close()]);
      await cloud.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
