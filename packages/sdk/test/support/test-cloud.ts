/**
 * Test support (never imported by product code): a real control plane from
 * `@tessera/cloud-server` on loopback, behind a small fault-injecting proxy that counts requests,
 * plus an identity provider key to mint OIDC evidence and a collector that hands it over.
 */
import { generateKeyPairSync, randomBytes, randomUUID, sign, type KeyObject } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineEvidenceCollector, type EvidenceCollector } from '@tessera/providers/collect';
import { resolveServerConfig, startServer, type RunningServer } from '@tessera/cloud-server';

export const IDP_ISSUER = 'https://idp.test';

/**
 * `http.request` as it was before any test installed Tessera's node:http interception: the proxy
 * below must reach the cloud even while the SDK in the same process waits for that very call.
 */
const unpatchedRequest = http.request;

/** An identity provider's signing key; `mint` makes the JWT a platform would hand the workload. */
export class TestIdp {
  readonly kid = randomUUID();
  readonly #key: KeyObject;
  readonly publicJwk: Record<string, unknown>;
  /** Every token minted, so tests can check none leaks. */
  readonly minted: string[] = [];

  constructor() {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.#key = privateKey;
    this.publicJwk = { ...publicKey.export({ format: 'jwk' }), kid: this.kid, alg: 'ES256', use: 'sig' };
  }

  mint(claims: { sub: string; aud: string; exp: number }): string {
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const input = `${encode({ alg: 'ES256', typ: 'JWT', kid: this.kid })}.${encode({ iss: IDP_ISSUER, iat: Math.floor(Date.now() / 1000), ...claims })}`;
    const token = `${input}.${sign('sha256', Buffer.from(input), { key: this.#key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
    this.minted.push(token);
    return token;
  }
}

export interface TestCollectorOptions {
  subject: string;
  /** Evidence lifetime, default 600 s. */
  lifetimeSeconds?: number;
  now?: () => Date;
  evidenceType?: string;
}

/** A collector as a user would write one: fresh evidence on every collect, counted. */
export function testCollector(idp: TestIdp, options: TestCollectorOptions): EvidenceCollector & { collected: number } {
  const now = options.now ?? (() => new Date());
  const collector = {
    collected: 0,
    ...defineEvidenceCollector({
      specificationVersion: 'v1',
      type: 'test-oidc',
      evidenceType: options.evidenceType ?? 'jwt',
      detect: async () => true,
      async collect(ctx) {
        collector.collected += 1;
        const exp = Math.floor(now().getTime() / 1000) + (options.lifetimeSeconds ?? 600);
        return { type: options.evidenceType ?? 'jwt', token: idp.mint({ sub: options.subject, aud: ctx.audience, exp }) };
      },
    }),
  };
  return collector;
}

/** An answer the proxy gives instead of the cloud's; `afterForwarding`: the cloud gets the request all the same. */
type Fault = { status: number; body?: unknown; headers?: Record<string, string>; afterForwarding?: boolean };

/** In front of the cloud: counts requests per path, answers queued faults, can switch upstream. */
export class FaultProxy {
  readonly counts = new Map<string, number>();
  readonly faults: Fault[] = [];
  /** Edge tokens the cloud issued through this proxy, so tests can check none leaks. */
  readonly edgeTokens: string[] = [];
  /** Fail every request with this, until cleared. */
  always: Fault | undefined;
  upstream = '';
  readonly #server = http.createServer((req, res) => this.#handle(req, res));
  url = '';

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  count(path: string): number {
    return this.counts.get(path) ?? 0;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = req.url ?? '/';
    this.counts.set(path, this.count(path) + 1);
    const fault = this.faults.shift() ?? this.always;
    const injectFault = () => {
      res.writeHead(fault!.status, { 'content-type': 'application/json', ...fault!.headers });
      res.end(JSON.stringify(fault!.body ?? { code: 'unavailable', message: 'injected fault' }));
    };
    if (fault && !fault.afterForwarding) {
      req.resume();
      return injectFault();
    }
    const forward = unpatchedRequest(`${this.upstream}${path}`, { method: req.method, headers: req.headers }, (answer) => {
      if (fault) {
        // The cloud did the work; its answer is lost on the way back.
        answer.resume();
        return answer.on('end', injectFault);
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      const chunks: Buffer[] = [];
      answer.on('data', (chunk: Buffer) => chunks.push(chunk));
      answer.on('end', () => {
        const token = /"edgeToken":"([^"]+)"/.exec(Buffer.concat(chunks).toString())?.[1];
        if (token) this.edgeTokens.push(token);
      });
      answer.pipe(res);
    });
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  }
}

export interface TestCloud {
  server: RunningServer;
  adminKey: string;
  dataDir: string;
  admin(method: string, path: string, body?: unknown): Promise<any>;
  close(): Promise<void>;
}

/**
 * A control plane whose public URL (the issuer, and so the evidence audience) is `publicUrl`.
 * `plugins`: modules registering custom providers (the server's `--plugin`), e.g. a fixture.
 */
export async function startTestCloud(publicUrl: string, plugins: string[] = [], options: { databaseUrl?: string } = {}): Promise<TestCloud> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tessera-sdk-test-'));
  // The tests' identity providers and token servers are fakes on loopback.
  const flags = { port: '0', data: dataDir, 'log-level': 'silent', 'public-url': publicUrl, plugin: plugins, 'provider-egress-allow': ['127.0.0.0/8', '::1'], ...(options.databaseUrl ? { 'database-url': options.databaseUrl } : {}) };
  const config = resolveServerConfig(flags, {});
  // PostgreSQL keeps no key file: the master key comes from the environment.
  const server = await startServer({ config, env: options.databaseUrl ? { TESSERA_MASTER_KEY: randomBytes(32).toString('base64') } : {} });
  const adminKey = server.bootstrapAdminKey!;
  return {
    server,
    adminKey,
    dataDir,
    async admin(method, path, body) {
      const response = await fetch(`${server.listeningUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${adminKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const parsed = (await response.json()) as unknown;
      if (response.status >= 300) throw new Error(`${method} ${path} answered ${response.status}: ${JSON.stringify(parsed)}`);
      return parsed;
    },
    async close() {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
