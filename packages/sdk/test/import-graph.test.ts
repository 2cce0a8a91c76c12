/**
 * The SDK runs in every workload process, so it must load only the collecting half of the
 * providers: no verifier, no credential issuer, no schema compiler, no cloud SDK. Checked on the
 * built packages, as they ship: the modules a process really loads — for `import('@tessera/sdk')`
 * and for `--import @tessera/sdk/register` that attests with a Kubernetes token and makes a managed
 * call — and what esbuild bundles for `import { init } from '@tessera/sdk'`. Provider modules are
 * told apart by the sources their build was made from (the source maps tsup writes).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const PROVIDERS = join(ROOT, 'packages/providers');
const RECORDER = fileURLToPath(new URL('./support/record-modules.mjs', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'tessera-import-graph-'));
const servers: Server[] = [];

afterAll(() => {
  for (const server of servers) server.close();
});

/** Packages only the verifying and issuing halves use. */
const SERVER_SIDE_PACKAGES = /\/node_modules\/(typebox|jose|openid-client|oauth4webapi|pkijs|asn1js|google-auth-library|gaxios|@aws-sdk\/[^/]+|@smithy\/[^/]+|@azure\/[^/]+)\//;

/** The providers' sources the collecting half is made of; anything else in @tessera/providers is a verifier, an issuer or a condition. */
const COLLECTING_SOURCES = /^src\/(collect|collectors|collector-contract|errors|optional-dependency)\.ts$|^src\/http\/[a-z-]+\.ts$|^src\/trust\/[a-z0-9-]+\/(collect(-[a-z0-9-]+)?|evidence)\.ts$|^src\/trust\/jwt\/token-file\.ts$/;

/** The providers' source files a built file of the package was made from (its source map). */
function providerSources(file: string): string[] {
  const map = JSON.parse(readFileSync(`${file}.map`, 'utf8')) as { sources: string[] };
  return map.sources.map((source) => relative(PROVIDERS, resolve(dirname(file), source)));
}

/** What of `files` (paths or file: URLs) the SDK must not load: server-side packages, and providers' sources outside the collecting half. */
function serverSide(files: Iterable<string>): string[] {
  const found = new Set<string>();
  for (const entry of files) {
    const file = entry.startsWith('file:') ? fileURLToPath(entry) : resolve(entry);
    const pkg = SERVER_SIDE_PACKAGES.exec(file);
    if (pkg) found.add(pkg[1]!);
    else if (file.startsWith(join(PROVIDERS, 'dist/')) && file.endsWith('.js')) {
      for (const source of providerSources(file)) if (!COLLECTING_SOURCES.test(source)) found.add(`@tessera/providers ${source}`);
    }
  }
  return [...found].sort();
}

/** Runs Node 24 with the module recorder preloaded; resolves with the modules loaded and the output. */
function loadedBy(args: string[], env: Record<string, string> = {}): Promise<{ modules: string[]; output: string; code: number | null }> {
  const record = join(scratch, `modules-${Math.random().toString(36).slice(2)}.txt`);
  const child = spawn(process.execPath, ['--import', RECORDER, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', TESSERA_RECORD_MODULES: record, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((done) => child.on('close', (code) => done({ modules: readFileSync(record, 'utf8').split('\n'), output, code })));
}

function listen(handler: (request: IncomingMessage, body: string) => { status: number; body: unknown }): Promise<string> {
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const answer = handler(request, body);
      response.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
    });
  });
  servers.push(server);
  return new Promise((ready) => server.listen(0, '127.0.0.1', () => ready(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

describe('what the SDK loads', () => {
  it("import('@tessera/sdk') loads no verifier, issuer, schema compiler or cloud SDK", async () => {
    const { modules, output, code } = await loadedBy(['--input-type=module', '-e', "await import('@tessera/sdk')"]);
    expect(code, output).toBe(0);
    expect(modules.some((url) => url.includes('/packages/sdk/dist/'))).toBe(true);
    expect(serverSide(modules)).toEqual([]);
  });

  it('--import @tessera/sdk/register attests with a Kubernetes token and makes a managed call, loading only the collecting half', async () => {
    const tokenFile = join(scratch, 'kubernetes-token');
    writeFileSync(tokenFile, 'header.payload.signature\n');
    const api = await listen((request) => ({ status: 200, body: { authorization: request.headers.authorization ?? null } }));
    const evidence: unknown[] = [];
    const cloudUrl = await listen((request, body) => {
      if (request.url === '/edge/v1/attest') {
        evidence.push((JSON.parse(body) as { evidence: unknown }).evidence);
        const { port } = new URL(api);
        const target = { serverWorkloadId: 'api', name: 'api', scheme: 'http', host: '127.0.0.1', port: Number(port), injection: { kind: 'header', name: 'authorization', format: 'Bearer {token}' } };
        return { status: 200, body: { edgeToken: 'edge-token', expiresAt: new Date(Date.now() + 600_000).toISOString(), clientWorkload: { id: 'c', name: 'pod' }, directory: [target] } };
      }
      if (request.url === '/edge/v1/credentials') {
        const injection = { kind: 'header', name: 'authorization', format: 'Bearer {token}' };
        return { status: 200, body: { credential: { kind: 'token', token: 'issued' }, injection, expiresAt: new Date(Date.now() + 600_000).toISOString(), serverWorkloadId: 'api', policyId: 'policy' } };
      }
      return { status: 202, body: {} };
    });
    const app = `const response = await fetch(${JSON.stringify(`${api}/hello`)}); console.log(JSON.stringify(await response.json()));`;
    const { modules, output, code } = await loadedBy(['--import', '@tessera/sdk/register', '--input-type=module', '-e', app], {
      TESSERA_CLOUD_URL: cloudUrl,
      TESSERA_KUBERNETES_TOKEN_FILE: tokenFile,
    });
    expect(code, output).toBe(0);
    expect(evidence).toEqual([{ type: 'kubernetes-token', token: 'header.payload.signature' }]);
    expect(output).toContain('{"authorization":"Bearer issued"}');
    expect(serverSide(modules)).toEqual([]);
  });

  it("a custom collector's own entry, as docs/providers.md lays it out, loads only the collecting half too", async () => {
    const collector = pathToFileURL(join(ROOT, 'examples/custom-trust-provider/collector.js')).href;
    const { modules, output, code } = await loadedBy(['--input-type=module', '-e', `await import(${JSON.stringify(collector)})`]);
    expect(code, output).toBe(0);
    expect(modules).toContain(collector);
    expect(serverSide(modules)).toEqual([]);
  });

  it("esbuild bundles import { init } from '@tessera/sdk' without them, under 400 KB", async () => {
    const entry = join(scratch, 'entry.mjs');
    writeFileSync(entry, "import { init } from '@tessera/sdk';\nconsole.log(typeof init);\n");
    const result = await build({ entryPoints: [entry], bundle: true, minify: true, platform: 'node', format: 'esm', write: false, metafile: true, logLevel: 'silent', nodePaths: [join(ROOT, 'node_modules')] });
    const [output] = Object.values(result.metafile.outputs);
    expect(serverSide(Object.keys(output!.inputs).map((input) => resolve(ROOT, input)))).toEqual([]);
    expect(output!.bytes).toBeLessThan(400 * 1024);
  });
});
