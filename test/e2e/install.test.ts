import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api } from './support/cloud-process.js';
import { MACHINE_PATH, NPM_INSTALL_FLAGS, ROOT } from './support/examples.js';
import { startFakeIssuer } from './support/fake-services.js';

/**
 * docs/install.md as a user follows it: `npm run pack` makes a tarball per package, and a fresh
 * project outside the repository installs them with the machine's npm (third-party dependencies
 * from the registry, through npm's cache). A service there, under `--import @tessera/sdk/register`
 * on the project's Node 24, makes a managed call through a control plane installed the same way.
 */

const PACKAGES = ['providers', 'sdk', 'cloud-server'] as const;
/** The project's pinned Node 24 (the one running the tests) first, for the installed programs. */
const NODE_24_PATH = [dirname(process.execPath), MACHINE_PATH].join(delimiter);
const API_KEY = 'sk_installed_4f1a9c';

const scratch = mkdtempSync(join(tmpdir(), 'tessera-install-'));
const tarballs = new Map<string, string>();
/** What to stop after the tests: servers and processes started here. */
const cleanup: Array<() => unknown> = [];

function run(command: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 120_000, env: { PATH: MACHINE_PATH, HOME: process.env.HOME ?? '/tmp', ...env } });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} (in ${cwd}) exited with ${result.status}:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/** `npm install`, without blocking the test process (two run side by side). */
function npmInstall(dir: string, files: string[]): Promise<void> {
  const child = spawn('npm', ['install', ...NPM_INSTALL_FLAGS, ...files], { cwd: dir, env: { PATH: MACHINE_PATH, HOME: process.env.HOME ?? '/tmp' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve, reject) => child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`npm install in ${dir} exited with ${code}:\n${output}`)))));
}

/** A new npm project in the scratch directory (outside the repository) with these tarballs installed. */
async function project(name: string, packages: ReadonlyArray<(typeof PACKAGES)[number]>): Promise<string> {
  const dir = join(scratch, name);
  run('mkdir', [dir], scratch);
  run('npm', ['init', '-y'], dir);
  run('npm', ['pkg', 'set', 'type=module'], dir);
  await npmInstall(dir, packages.map((p) => tarballs.get(p)!));
  return dir;
}

/** `du -sk`: what an install puts on disk, in KiB. */
const installedKiB = (dir: string) => Number(run('du', ['-sk', join(dir, 'node_modules')], dir).split('\t')[0]);

function listen(server: Server): Promise<string> {
  cleanup.push(() => server.close());
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

/** Runs a long-lived program until its output matches `pattern`. */
function startUntil(command: string, args: string[], options: { cwd: string; env: Record<string, string> }, pattern: RegExp): Promise<RegExpExecArray> {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  cleanup.push(() => child.kill());
  let output = '';
  return new Promise((resolve, reject) => {
    const check = (chunk: Buffer) => {
      output += chunk.toString();
      const match = pattern.exec(output);
      if (match) resolve(match);
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    child.on('close', (code) => reject(new Error(`${command} exited with ${code} before printing ${pattern}:\n${output}`)));
  });
}

beforeAll(() => {
  run('npm', ['run', 'pack'], ROOT);
  for (const file of readdirSync(join(ROOT, 'dist-packages'))) {
    const name = PACKAGES.find((p) => file === `tessera-${p}-0.1.0.tgz`);
    if (name !== undefined) tarballs.set(name, join(ROOT, 'dist-packages', file));
  }
}, 240_000);

afterAll(() => {
  for (const stop of cleanup) stop();
  // Two installs are 200 MB of small files: removing them takes longer than the rest of the test on a busy machine.
  spawn('rm', ['-rf', scratch], { detached: true, stdio: 'ignore' }).unref();
});

describe('npm run pack', () => {
  it('makes one tarball per package in dist-packages/', () => {
    expect([...tarballs.keys()].sort()).toEqual([...PACKAGES].sort());
    const listed = readdirSync(join(ROOT, 'dist-packages')).filter((file) => !file.startsWith('.')); // another pack's staging directory
    expect(listed.sort()).toEqual([...tarballs.values()].map((path) => path.split('/').at(-1)).sort());
  });

  it.for(PACKAGES)('%s ships its build, types, README and LICENSE, and nothing of its tests', (name) => {
    const files = run('tar', ['-tzf', tarballs.get(name)!], scratch).trim().split('\n');
    expect(files).toEqual(expect.arrayContaining(['package/package.json', 'package/README.md', 'package/LICENSE', 'package/dist/index.js', 'package/dist/index.d.ts']));
    const unexpected = files.filter((file) => !/^package\/(package\.json|README\.md|LICENSE|dist\/.+\.(js|js\.map|d\.ts)|bin\/[\w-]+\.js)$/.test(file));
    expect(unexpected).toEqual([]);
    expect(files.filter((file) => /test|fake|testing|\/src\//.test(file))).toEqual([]);

    const manifest = JSON.parse(run('tar', ['-xzOf', tarballs.get(name)!, 'package/package.json'], scratch));
    expect(manifest).toMatchObject({ name: `@tessera/${name}`, license: 'Apache-2.0', types: './dist/index.d.ts', repository: { directory: `packages/${name}` } });
    expect(manifest.engines.node).toMatch(/^>=\d+/);
    expect(manifest.publishConfig).toEqual({ access: 'public' });
    // Other Tessera packages are required at exactly this version, which the tarballs beside it provide.
    for (const [dependency, range] of Object.entries<string>(manifest.dependencies ?? {})) if (dependency.startsWith('@tessera/')) expect(range).toBe(manifest.version);
  });
});

describe('npm publish --workspaces', () => {
  it('would publish the three packages as they are, with public access and nothing for npm to correct', () => {
    const result = spawnSync('npm', ['publish', '--workspaces', '--dry-run'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: { PATH: MACHINE_PATH, HOME: process.env.HOME ?? '/tmp' } });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout.trim().split('\n').sort()).toEqual(['+ @tessera/cloud-server@0.1.0', '+ @tessera/providers@0.1.0', '+ @tessera/sdk@0.1.0']);
    expect(result.stderr).toContain('with tag latest and public access (dry-run)');
    const warnings = result.stderr.split('\n').filter((line) => line.startsWith('npm warn') && !line.includes('requires you to be logged in'));
    expect(warnings).toEqual([]);
  });
});

describe('installed from the tarballs into projects outside the repository', () => {
  it('a service under --import @tessera/sdk/register makes a managed call with the credential the control plane issued', async () => {
    const [controlPlane, service] = await Promise.all([project('control-plane', ['cloud-server', 'providers']), project('service', ['sdk', 'providers'])]);
    // The sizes docs/install.md states. The service's collector here (oidc) needs no package of
    // its own, as Kubernetes' does not: the cloud SDKs and what only the control plane uses are
    // optional dependencies of @tessera/providers, not installed with the SDK.
    const sdkOnlyKiB = installedKiB(service);
    console.log(`installed size: SDK only ${sdkOnlyKiB} KiB; control plane ${installedKiB(controlPlane)} KiB`);
    expect(sdkOnlyKiB).toBeLessThan(15 * 1024);
    const serviceModules = readdirSync(join(service, 'node_modules'));
    expect(serviceModules.filter((name) => ['@aws-sdk', '@smithy', '@azure', 'google-auth-library', 'pkijs', 'typebox', 'jose', 'openid-client'].includes(name))).toEqual([]);

    expect(run('npx', ['tessera-cloud', '--help'], controlPlane, { PATH: NODE_24_PATH })).toMatch(/^Usage: tessera-cloud <command>/);

    const adminKey = `tsk_${randomBytes(32).toString('base64url')}`;
    const [, cloudUrl] = await startUntil(
      join(controlPlane, 'node_modules/.bin/tessera-cloud'),
      // The stand-in issuer below listens on loopback, which providers reach only when allowed.
      ['start', '--port', '0', '--data', join(controlPlane, 'data'), '--provider-egress-allow', '127.0.0.1'],
      { cwd: controlPlane, env: { PATH: NODE_24_PATH, HOME: process.env.HOME ?? '/tmp', TESSERA_BOOTSTRAP_ADMIN_KEY: adminKey } },
      /listening on (http:\/\/127\.0\.0\.1:\d+)/,
    );
    const issuer = await startFakeIssuer();
    cleanup.push(issuer.close);
    const protectedApi = await listen(createServer((request, response) => response.end(`authorization: ${request.headers.authorization ?? '(none)'}`)));

    const admin = async (kind: string, body: Record<string, unknown>): Promise<string> => {
      const created = await api(cloudUrl!, adminKey, 'POST', `/api/v1/${kind}`, body);
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      return created.body.id;
    };
    const trust = await admin('trust-providers', { name: 'idp', type: 'oidc', config: { issuer: issuer.issuer, jwksUri: `${issuer.issuer}/keys` } });
    const client = await admin('client-workloads', { name: 'installed-service', identities: [{ claim: 'oidc.subject', value: 'installed-service' }] });
    const { port } = new URL(protectedApi);
    const server = await admin('server-workloads', {
      name: 'protected-api',
      scheme: 'http',
      host: '127.0.0.1',
      port: Number(port),
      injection: { kind: 'header', name: 'authorization', format: 'Bearer {token}' },
    });
    const key = await admin('credential-providers', { name: 'api-key', type: 'api-key', secrets: { apiKey: API_KEY } });
    await admin('access-policies', { name: 'service-to-api', clientWorkloadIds: [client], serverWorkloadId: server, trustProviderIds: [trust], credentialProviderId: key });

    writeFileSync(join(service, 'service.mjs'), `const response = await fetch(${JSON.stringify(`${protectedApi}/hello`)});\nconsole.log(response.status, await response.text());\n`);
    const token = await issuer.sign({}, { audience: cloudUrl!, subject: 'installed-service' });
    // Asynchronously: the issuer and the protected API answer from this process meanwhile.
    const [, status, answer] = await startUntil(
      'node',
      ['--import', '@tessera/sdk/register', 'service.mjs'],
      { cwd: service, env: { PATH: NODE_24_PATH, HOME: process.env.HOME ?? '/tmp', TESSERA_CLOUD_URL: cloudUrl!, TESSERA_OIDC_TOKEN: token } },
      /^(\d{3}) (.*)\n/m,
    );
    expect(`${status} ${answer}`).toBe(`200 authorization: Bearer ${API_KEY}`);
  }, 180_000);

  it('a service using the aws-iam collector without the AWS packages stops at start with the npm install to run', async () => {
    const service = await project('aws-service', ['sdk', 'providers']);
    const result = spawnSync('node', ['--import', '@tessera/sdk/register', '-e', "console.log('the application ran')"], {
      cwd: service,
      encoding: 'utf8',
      timeout: 60_000,
      env: {
        PATH: NODE_24_PATH,
        HOME: process.env.HOME ?? '/tmp',
        TESSERA_CLOUD_URL: 'http://127.0.0.1:9',
        TESSERA_COLLECTORS: 'aws-iam',
        AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
        AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      },
    });
    expect(result.status).not.toBe(0);
    expect(result.stdout).not.toContain('the application ran');
    expect(result.stderr).toContain(
      "TesseraConfigurationError: the aws-iam evidence collector needs @smithy/signature-v4, which is not installed: npm install @aws-sdk/credential-providers @smithy/signature-v4",
    );
    expect(result.stderr).toContain("code: 'missing_dependency'");
    expect(result.stderr).not.toContain('wJalrXUtnFEMI');
  }, 180_000);
});
