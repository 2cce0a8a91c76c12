import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from './support/cloud-e2e.js';
import { api, runCli, startCloud, type CloudProcess } from './support/cloud-process.js';

const DATABASE_URL = process.env.TESSERA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const running: CloudProcess[] = [];
async function start(args: string[], env: NodeJS.ProcessEnv = {}) {
  const cloud = await startCloud(args, env);
  running.push(cloud);
  return cloud;
}
/** The control plane's published signing keys. */
async function jwksOf(url: string): Promise<{ keys: { kid: string }[] }> {
  return (await (await fetch(`${url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((cloud) => cloud.stop('SIGKILL')));
});

describe('tessera-cloud start (embedded store)', () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'tessera-e2e-'));
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('creates the data dir, prints the bootstrap key once, and serves the admin API and OIDC documents', async () => {
    const cloud = await start(['--data', dataDir, '--public-url', 'https://tessera.example.test']);
    expect(cloud.bootstrapKey).toMatch(/^tsk_/);
    expect(statSync(join(dataDir, 'master.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, 'tessera.db')).mode & 0o777).toBe(0o600);

    const discovery = await (await fetch(`${cloud.url}/.well-known/openid-configuration`)).json();
    expect(discovery).toMatchObject({
      issuer: 'https://tessera.example.test',
      jwks_uri: 'https://tessera.example.test/.well-known/jwks.json',
    });
    const jwks = await jwksOf(cloud.url);
    expect(jwks.keys).toEqual([expect.objectContaining({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' })]);
    expect((await fetch(`${cloud.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${cloud.url}/readyz`)).status).toBe(200);
    expect((await fetch(`${cloud.url}/api/v1/client-workloads`)).status).toBe(401);

    const created = await api(cloud.url, cloud.bootstrapKey!, 'POST', '/api/v1/client-workloads', {
      name: 'payments',
      identities: [{ claim: 'kubernetes.namespace', value: 'payments' }],
    });
    expect(created.status).toBe(201);
    const openapi = (await (await fetch(`${cloud.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(openapi.paths)).toContain('/api/v1/access-policies/{id}');

    // The key never reaches the log; the bootstrap banner is the only place it appears.
    expect(cloud.output().split(cloud.bootstrapKey!).length).toBe(2);
    expect(await cloud.stop()).toBe(0);

    // A restart on the same data keeps everything and prints no new key.
    const again = await start(['--data', dataDir]);
    expect(again.bootstrapKey).toBeUndefined();
    const listed = await api(again.url, cloud.bootstrapKey!, 'GET', '/api/v1/client-workloads?name=payments');
    expect(listed.body.items).toEqual([expect.objectContaining({ id: created.body.id })]);
    const jwksAgain = await jwksOf(again.url);
    expect(jwksAgain.keys[0]!.kid).toBe(jwks.keys[0]!.kid);
  });

  it('finishes an in-flight request on SIGTERM, then exits 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-e2e-'));
    try {
      const cloud = await start(['--data', dir]);
      const { port } = new URL(cloud.url);
      const body = JSON.stringify({ name: 'in-flight', identities: [{ claim: 'a', value: 'b' }] });
      const answer = new Promise<{ status: number; text: string; connection: string | undefined }>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/api/v1/client-workloads',
            headers: {
              authorization: `Bearer ${cloud.bootstrapKey}`,
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(body),
            },
          },
          (res) => {
            let text = '';
            res.on('data', (chunk: Buffer) => (text += chunk.toString()));
            res.on('end', () => resolve({ status: res.statusCode!, text, connection: res.headers.connection }));
          },
        );
        req.on('error', reject);
        // Half the body now; the rest after the server was told to stop.
        req.write(body.slice(0, 10));
        setTimeout(() => {
          cloud.child.kill('SIGTERM');
          setTimeout(() => req.end(body.slice(10)), 300);
        }, 200);
      });
      const { status, text, connection } = await answer;
      expect(status, text).toBe(201);
      // Draining closes keep-alive connections, so an idle client socket cannot hold shutdown open.
      expect(connection).toBe('close');
      expect(await cloud.exited).toBe(0);
      expect(cloud.output()).toContain('shutting down');

      const again = await start(['--data', dir]);
      const listed = await api(again.url, cloud.bootstrapKey!, 'GET', '/api/v1/client-workloads?name=in-flight');
      expect(listed.body.items).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes the bootstrap key from TESSERA_BOOTSTRAP_ADMIN_KEY and rotates keys from the CLI', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-e2e-'));
    try {
      const preset = `tsk_${randomBytes(32).toString('base64url')}`;
      const cloud = await start(['--data', dir], { TESSERA_BOOTSTRAP_ADMIN_KEY: preset });
      expect(cloud.bootstrapKey).toBeUndefined();
      expect(cloud.output()).not.toContain(preset);
      expect((await api(cloud.url, preset, 'GET', '/api/v1/admin-keys')).status).toBe(200);
      const before = await jwksOf(cloud.url);
      expect(await cloud.stop()).toBe(0);

      const rotated = await runCli(['keys', 'rotate', '--data', dir]);
      expect(rotated.code, rotated.output).toBe(0);
      expect(rotated.output).toContain(`retired ${before.keys[0]!.kid}`);
      const recovered = await runCli(['admin-keys', 'create', '--name', 'recovery', '--data', dir]);
      expect(recovered.code, recovered.output).toBe(0);
      const recoveryKey = /(tsk_[A-Za-z0-9_-]+)/.exec(recovered.output)![1]!;

      const again = await start(['--data', dir]);
      const after = await jwksOf(again.url);
      expect(after.keys.map((k: { kid: string }) => k.kid)).toContain(before.keys[0]!.kid);
      expect(after.keys).toHaveLength(2);
      expect((await api(again.url, recoveryKey, 'GET', '/api/v1/signing-keys')).body.items).toHaveLength(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to start with a master key that does not match the store, naming the problem', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-e2e-'));
    try {
      const first = await start(['--data', dir]);
      expect(await first.stop()).toBe(0);
      const wrongKey = randomBytes(32).toString('base64');
      const result = await runCli(['start', '--port', '0', '--data', dir], { TESSERA_MASTER_KEY: wrongKey });
      expect(result.code).toBe(1);
      expect(result.output).toMatch(/master key/i);
      expect(result.output).not.toContain(wrongKey);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects bad flags with a clear message', async () => {
    const badPort = await runCli(['start', '--port', 'eighty']);
    expect(badPort.code).toBe(1);
    expect(badPort.output).toContain('--port');
    const badUrl = await runCli(['start', '--database-url', 'mysql://user:pw@host/db']);
    expect(badUrl.code).toBe(1);
    expect(badUrl.output).toContain('mysql');
    expect(badUrl.output).not.toContain('pw@');
    const unknown = await runCli(['frobnicate']);
    expect(unknown.code).toBe(1);
    const badRetention = await runCli(['start', '--audit-retention', '30 days']);
    expect(badRetention.code).toBe(1);
    expect(badRetention.output).toContain('--audit-retention must be a duration such as 30d');
  });

  it('deletes audit events older than --audit-retention soon after it starts, and keeps the rest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-e2e-'));
    try {
      const first = await start(['--data', dir]);
      expect(await first.stop()).toBe(0);
      // Two events from 40 days ago, written straight into the store as an older release would have.
      const database = new DatabaseSync(join(dir, 'tessera.db'));
      const old = Date.now() - 40 * 86_400_000;
      for (const n of [1, 2]) {
        const hex = (old + n).toString(16).padStart(12, '0');
        database
          .prepare("INSERT INTO audit_events (id, time, kind, outcome, data) VALUES (?, ?, 'edge.attest', 'deny', '{}')")
          .run(`${hex.slice(0, 8)}-${hex.slice(8)}-7000-8000-00000000000${n}`, new Date(old + n).toISOString());
      }
      const count = () => Number((database.prepare('SELECT count(*) AS n FROM audit_events').get() as { n: number }).n);
      const before = count();
      const cloud = await start(['--data', dir], { TESSERA_AUDIT_RETENTION: '30d' });
      await eventually(async () => (count() === before - 2 ? true : undefined), 30_000); // the first pass runs 10 s after start
      database.close();
      expect((await fetch(`${cloud.url}/readyz`)).status).toBe(200);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a malformed TESSERA_BOOTSTRAP_ADMIN_KEY before it creates a store or listens, without echoing it', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'tessera-e2e-')), 'data');
    try {
      const result = await runCli(['start', '--port', '0', '--data', dir], { TESSERA_BOOTSTRAP_ADMIN_KEY: 'too-short-secret' });
      expect(result.code).toBe(1);
      expect(result.output).toContain('TESSERA_BOOTSTRAP_ADMIN_KEY must be 32 to 512 characters');
      expect(result.output).not.toContain('too-short-secret');
      expect(result.output).not.toContain('listening');
      expect(existsSync(dir)).toBe(false);
    } finally {
      rmSync(join(dir, '..'), { recursive: true, force: true });
    }
  });
});

describe('tessera-cloud start (PostgreSQL)', () => {
  const database = `tessera_e2e_${randomBytes(4).toString('hex')}`;
  const url = new URL(DATABASE_URL);
  url.pathname = `/${database}`;
  const admin = new pg.Client({ connectionString: DATABASE_URL });

  beforeAll(async () => {
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
  });
  afterAll(async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  });

  it('requires TESSERA_MASTER_KEY', async () => {
    const result = await runCli(['start', '--port', '0', '--database-url', url.href]);
    expect(result.code).toBe(1);
    expect(result.output).toContain('TESSERA_MASTER_KEY');
  });

  it('runs two replicas on one database: one bootstrap, shared objects and keys', async () => {
    const env = { TESSERA_MASTER_KEY: randomBytes(32).toString('base64') };
    const [a, b] = await Promise.all([
      start(['--database-url', url.href], env),
      start(['--database-url', url.href], env),
    ]);
    const keys = [a.bootstrapKey, b.bootstrapKey].filter(Boolean);
    expect(keys).toHaveLength(1);
    const key = keys[0]!;
    const created = await api(a.url, key, 'POST', '/api/v1/server-workloads', {
      name: 'billing',
      host: 'billing.internal',
      port: 443,
      scheme: 'https',
      injection: { kind: 'header', name: 'x-api-key', format: '{token}' },
    });
    expect(created.status).toBe(201);
    const read = await api(b.url, key, 'GET', `/api/v1/server-workloads/${created.body.id}`);
    expect(read.body).toEqual(created.body);
    const jwksA = await jwksOf(a.url);
    const jwksB = await jwksOf(b.url);
    expect(jwksA.keys.map((k: { kid: string }) => k.kid)).toEqual(jwksB.keys.map((k: { kid: string }) => k.kid));
    expect(await a.stop()).toBe(0);
    expect(await b.stop()).toBe(0);
  });
});
