#!/usr/bin/env node
// undici's own fetch test suite, run twice from a checkout of https://github.com/nodejs/undici:
// as it is, and with @tessera/sdk preloaded in every Node process (`--import` of the register
// hook) against a control plane on loopback whose directory is empty — every target unmanaged.
// Prints both runs and the tests whose outcome differs; exits 0 when the failing sets are the
// same, 1 when the SDK changed anything, 2 when the runs could not be made.
//
//   npm run test:undici-fetch -- <undici-checkout> [test/fetch/<file>.js ...]
//   (that is: npm run build, then node test/undici-fetch/compare.mjs <undici-checkout> ...)
//
// The checkout needs its devDependencies (`npm install` in it). This script generates the test
// certificates and the fetch bundle as undici's `npm run test:fetch` does; nothing of undici is
// copied into this repository. See docs/testing.md.
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REGISTER = fileURLToPath(new URL('../../packages/sdk/dist/register.js', import.meta.url));
const CLOUD = new URL('../../packages/cloud-server/dist/index.js', import.meta.url);
const REPORTER = fileURLToPath(new URL('./reporter.mjs', import.meta.url));
const ISSUER = 'https://idp.undici-suite.test';
const SUBJECT = 'undici-fetch-suite';

const [checkoutArg, ...only] = process.argv.slice(2);
if (!checkoutArg) stop('usage: node test/undici-fetch/compare.mjs <undici-checkout> [test/fetch/<file>.js ...]');
const checkout = resolve(checkoutArg);
const manifest = existsSync(join(checkout, 'package.json')) ? JSON.parse(readFileSync(join(checkout, 'package.json'), 'utf8')) : {};
if (manifest.name !== 'undici' || !existsSync(join(checkout, 'test/fetch'))) stop(`${checkout} is not a checkout of undici (no package.json named undici with test/fetch/)`);
if (!existsSync(join(checkout, 'node_modules'))) stop(`${checkout} has no node_modules: run npm install there first`);
for (const built of [REGISTER, fileURLToPath(CLOUD)]) if (!existsSync(built)) stop(`${built} is missing: run npm run build first`);
const files = only.length > 0 ? only : readdirSync(join(checkout, 'test/fetch')).filter((name) => name.endsWith('.js')).sort().map((name) => `test/fetch/${name}`);

// Every process of the runs uses this Node, also the ones undici's tests spawn by name.
const env = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`, NODE_OPTIONS: '' };
for (const name of Object.keys(env)) if (name.startsWith('TESSERA_')) delete env[name];

console.log(`undici ${manifest.version} at ${checkout}, Node ${process.version}, ${files.length} test files`);
for (const script of ['generate-pem', 'build:node']) await run('npm', ['run', '--silent', script], { cwd: checkout, env }, true);

const { resolveServerConfig, startServer } = await import(CLOUD.href);
const dataDir = await mkdtemp(join(tmpdir(), 'tessera-undici-suite-'));
const cloud = await startServer({ config: resolveServerConfig({ port: '0', data: dataDir, 'log-level': 'silent' }, {}), env: {} });
try {
  const cloudUrl = cloud.listeningUrl;
  const token = await emptyDirectoryWorkload(cloudUrl, cloud.bootstrapAdminKey);
  const sdkEnv = {
    ...env,
    NODE_OPTIONS: `--import=${REGISTER}`,
    TESSERA_CLOUD_URL: cloudUrl,
    TESSERA_COLLECTORS: 'oidc',
    TESSERA_OIDC_TOKEN: token,
    TESSERA_EVENTS: 'off',
  };

  const plain = await suite('without Tessera', env);
  const attestedBefore = await attestations(cloudUrl, cloud.bootstrapAdminKey);
  const withSdk = await suite('with @tessera/sdk/register', sdkEnv);
  const attested = (await attestations(cloudUrl, cloud.bootstrapAdminKey)) - attestedBefore;

  console.log('\n| run | tests | passed | failed | time |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const result of [plain, withSdk]) {
    console.log(`| ${result.label} | ${result.tests.size} | ${result.tests.size - result.failed.size} | ${result.failed.size} | ${(result.ms / 1000).toFixed(0)} s |`);
  }
  console.log(`\nattestations by preloaded processes: ${attested}`);

  const differences = [];
  for (const name of new Set([...plain.tests.keys(), ...withSdk.tests.keys()])) {
    const before = plain.tests.get(name);
    const after = withSdk.tests.get(name);
    if (before !== after) differences.push(`${name}: ${describe(before)} without Tessera, ${describe(after)} with it`);
  }
  for (const [label, result] of [['without Tessera', plain], ['with Tessera', withSdk]]) {
    if (result.failed.size > 0) console.log(`\nfailing ${label}:\n${[...result.failed].map((name) => `  ${name}`).join('\n')}`);
  }
  if (attested === 0) differences.push('no process attested: the register hook did not run');
  if (differences.length > 0) {
    console.log(`\nDIFFERENT (${differences.length}):\n${differences.map((line) => `  ${line}`).join('\n')}`);
    process.exitCode = 1;
  } else {
    console.log('\nSAME: the SDK changed no test outcome');
  }
} finally {
  await cloud.close();
  await rm(dataDir, { recursive: true, force: true });
}

/** A trust provider for a key made here and one client workload; no server workload at all. */
async function emptyDirectoryWorkload(cloudUrl, adminKey) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = randomUUID();
  await admin(cloudUrl, adminKey, 'POST', '/api/v1/trust-providers', {
    name: 'suite-idp',
    type: 'oidc',
    config: { issuer: ISSUER, jwks: { keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' }] }, algorithms: ['ES256'] },
  });
  await admin(cloudUrl, adminKey, 'POST', '/api/v1/client-workloads', { name: 'undici-suite', identities: [{ claim: 'oidc.subject', value: SUBJECT }] });
  const now = Math.floor(Date.now() / 1000);
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${encode({ alg: 'ES256', typ: 'JWT', kid })}.${encode({ iss: ISSUER, sub: SUBJECT, aud: cloudUrl, iat: now, exp: now + 6 * 3600 })}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

async function attestations(cloudUrl, adminKey) {
  let count = 0;
  let cursor;
  do {
    const page = await admin(cloudUrl, adminKey, 'GET', `/api/v1/audit-events?limit=500${cursor ? `&cursor=${cursor}` : ''}`);
    count += page.items.filter((event) => event.kind === 'edge.attest' && event.outcome === 'allow').length;
    cursor = page.nextCursor;
  } while (cursor);
  return count;
}

async function admin(cloudUrl, adminKey, method, path, body) {
  const response = await fetch(`${cloudUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const parsed = await response.json();
  if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(parsed)}`);
  return parsed;
}

/** One run of the files, as undici's `test:fetch` script runs them (one file at a time, --expose-gc). */
async function suite(label, runEnv) {
  const out = await mkdtemp(join(tmpdir(), 'undici-fetch-run-'));
  const results = join(out, 'results.jsonl');
  const args = ['--test', '--expose-gc', '--test-timeout=180000', '--test-concurrency=1', `--test-reporter=${REPORTER}`, `--test-reporter-destination=${results}`, '--test-reporter=dot', '--test-reporter-destination=stdout', ...files];
  console.log(`\n${label}:`);
  const started = performance.now();
  await run(process.execPath, args, { cwd: checkout, env: runEnv }, false);
  const ms = performance.now() - started;
  const tests = new Map();
  const text = existsSync(results) ? await readFile(results, 'utf8') : '';
  for (const line of text.split('\n').filter(Boolean)) {
    const { file, name, passed, skipped } = JSON.parse(line);
    const key = `${file} > ${name}`;
    // A name used twice in one file counts as failed if either failed.
    tests.set(key, tests.get(key) === 'failed' || !passed ? 'failed' : skipped ? 'skipped' : 'passed');
  }
  await rm(out, { recursive: true, force: true });
  return { label, ms, tests, failed: new Set([...tests].filter(([, outcome]) => outcome === 'failed').map(([name]) => name)) };
}

function describe(outcome) {
  return outcome ?? 'absent';
}

function run(command, args, options, mustSucceed) {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', fail);
    child.on('exit', (code) => (mustSucceed && code !== 0 ? fail(new Error(`${command} ${args.join(' ')} exited with ${code}`)) : done(code)));
  });
}

function stop(message) {
  console.error(message);
  process.exit(2);
}
