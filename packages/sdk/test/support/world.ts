/**
 * Test support (never imported by product code): a control plane on loopback behind a counting
 * proxy, an identity provider, and protected target servers that record exactly what reached
 * them. `createWorld()` configures one client workload (`payments`) and targets of every
 * injection kind through the admin API.
 */
import http from 'node:http';
import https from 'node:https';
import { inspect } from 'node:util';
import type { AddressInfo } from 'node:net';
import { FaultProxy, IDP_ISSUER, startTestCloud, testCollector, TestIdp, type TestCloud } from './test-cloud.js';
import type { EvidenceCollector } from '@tessera/providers/collect';
import type { CloudLogger } from '../../src/cloud/logger.js';
import { TEST_CERT, TEST_KEY } from './tls.js';

export const API_KEY = 'sk_live_world_7d1e_never_in_logs';
export const BASIC_USER = 'svc-payments';
export const BASIC_PASSWORD = 'basic-password-9a8b_never_in_logs';
export const QUERY_KEY = 'qk_world_31f0_never_in_logs';

export interface ReceivedRequest {
  method: string;
  url: string;
  /** As on the wire: names in their case, repeated headers repeated. */
  rawHeaders: string[];
  body: Buffer;
}

export interface TargetServer {
  readonly url: string;
  readonly port: number;
  readonly received: ReceivedRequest[];
  /** TCP connections accepted: a denied request must open none. */
  connections: number;
  /** Answers queued for the next requests (default 200 `{"ok":true}`). */
  readonly answers: Array<{ status: number; body?: string; location?: string }>;
  close(): Promise<void>;
}

/** A target on loopback; `tls` serves HTTPS with `TEST_CERT` (for 127.0.0.1 and localhost). */
export async function startTarget(options: { tls?: boolean } = {}): Promise<TargetServer> {
  const received: ReceivedRequest[] = [];
  const answers: Array<{ status: number; body?: string; location?: string }> = [];
  const handler: http.RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders, body: Buffer.concat(chunks) });
      const answer = answers.shift() ?? { status: 200, body: '{"ok":true}' };
      res.writeHead(answer.status, { 'content-type': 'application/json', ...(answer.location ? { location: answer.location } : {}) });
      res.end(answer.body ?? '{}');
    });
  };
  const server = options.tls ? https.createServer({ cert: TEST_CERT, key: TEST_KEY }, handler) : http.createServer(handler);
  const target = {
    url: '',
    port: 0,
    received,
    connections: 0,
    answers,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  server.on('connection', () => (target.connections += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  target.port = (server.address() as AddressInfo).port;
  target.url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${target.port}`;
  return target;
}

/** The values of one header as received, name compared without case. */
export function headerValues(request: ReceivedRequest, name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i + 1 < request.rawHeaders.length; i += 2) if (request.rawHeaders[i]!.toLowerCase() === name) values.push(request.rawHeaders[i + 1]!);
  return values;
}

export interface World {
  idp: TestIdp;
  proxy: FaultProxy;
  cloud: TestCloud;
  /** header injection (`Authorization: Bearer`), api-key credential */
  api: TargetServer;
  /** basic injection */
  basic: TargetServer;
  /** query injection `api_key` */
  query: TargetServer;
  /** a policy whose time-window condition is closed now: denied with `condition_failed` */
  denied: TargetServer;
  /** never in the directory */
  unmanaged: TargetServer;
  collector(subject?: string): EvidenceCollector & { collected: number };
  close(): Promise<void>;
}

/** A time window that excludes now: it opens 12 hours from now for one minute. */
function closedWindow() {
  const at = new Date(Date.now() + 12 * 3600_000);
  const hhmm = (d: Date) => `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
  return { timeZone: 'UTC', start: hhmm(at), end: hhmm(new Date(at.getTime() + 60_000)) };
}

/** `plugins`: provider packages the control plane loads (as `tessera-cloud --plugin`). */
export async function createWorld(options: { plugins?: string[] } = {}): Promise<World> {
  const idp = new TestIdp();
  const proxy = new FaultProxy();
  await proxy.listen();
  const cloud = await startTestCloud(proxy.url, options.plugins);
  proxy.upstream = cloud.server.listeningUrl;
  const [api, basic, query, denied, unmanaged] = await Promise.all([startTarget(), startTarget(), startTarget(), startTarget(), startTarget()]);

  const post = (plural: string, body: object) => cloud.admin('POST', `/api/v1/${plural}`, body);
  const trust = await post('trust-providers', { name: 'idp', type: 'oidc', config: { issuer: IDP_ISSUER, jwks: { keys: [idp.publicJwk] }, algorithms: ['ES256'] } });
  const payments = await post('client-workloads', { name: 'payments', identities: [{ claim: 'oidc.subject', value: 'svc-payments' }] });
  const server = (name: string, target: TargetServer, injection: object) =>
    post('server-workloads', { name, scheme: 'http', host: '127.0.0.1', port: target.port, injection });
  const key = await post('credential-providers', { name: 'key', type: 'api-key', secrets: { apiKey: API_KEY } });
  const basicCredential = await post('credential-providers', { name: 'basic', type: 'basic', config: { username: BASIC_USER }, secrets: { password: BASIC_PASSWORD } });
  const queryKey = await post('credential-providers', { name: 'query-key', type: 'api-key', secrets: { apiKey: QUERY_KEY } });
  const policy = (name: string, serverWorkloadId: string, credentialProviderId: string) =>
    post('access-policies', { name, clientWorkloadIds: [payments.id], serverWorkloadId, trustProviderIds: [trust.id], credentialProviderId });
  const apiServer = await server('api', api, { kind: 'header', name: 'authorization' });
  const basicServer = await server('basic-api', basic, { kind: 'basic' });
  const queryServer = await server('query-api', query, { kind: 'query', name: 'api_key' });
  const deniedServer = await server('denied-api', denied, { kind: 'header', name: 'authorization' });
  await policy('api', apiServer.id, key.id);
  const window = await post('access-conditions', { name: 'night-shift', type: 'time-window', config: closedWindow() });
  await post('access-policies', {
    name: 'denied',
    clientWorkloadIds: [payments.id],
    serverWorkloadId: deniedServer.id,
    trustProviderIds: [trust.id],
    credentialProviderId: key.id,
    accessConditionIds: [window.id],
  });
  await policy('basic', basicServer.id, basicCredential.id);
  await policy('query', queryServer.id, queryKey.id);

  return {
    idp,
    proxy,
    cloud,
    api,
    basic,
    query,
    denied,
    unmanaged,
    collector: (subject = 'svc-payments') => testCollector(idp, { subject }),
    async close() {
      await Promise.all([api, basic, query, denied, unmanaged].map((target) => target.close()));
      await proxy.close();
      await cloud.close();
    },
  };
}

/** A logger that keeps every line, so tests can check what was said — and that no secret was. */
export function captureLogs(): { logger: CloudLogger; lines: string[] } {
  const lines: string[] = [];
  const line = (message: string, fields?: Record<string, unknown>) => lines.push(`${message} ${JSON.stringify(fields ?? {})}`);
  return { logger: { debug: line, info: line, warn: line }, lines };
}

/**
 * What `promise` rejected with (a fulfilment fails the test), also printed into `observed`, so the
 * suite can check at the end that no error it saw held a secret.
 */
export async function rejectionOf(promise: Promise<unknown>, observed: string[]): Promise<any> {
  const error = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  observed.push(inspect(error, { depth: 6 }));
  return error;
}
