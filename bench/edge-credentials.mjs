// Throughput and latency of POST /edge/v1/credentials (api-key provider, embedded store) with
// 10 and then 10,000 access policies, measured side by side in one run. The control plane and
// the load generator are separate processes sharing the machine's cores.
//
//   npm run build && node bench/edge-credentials.mjs [--connections 32] [--duration 10]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { startCloudProcess, adminClient } from './support.mjs';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '32' },
    duration: { type: 'string', default: '10' },
    policies: { type: 'string', default: '10000' },
  },
});
const connections = Number(values.connections);
const durationSeconds = Number(values.duration);
const largePolicyCount = Number(values.policies);

const dataDir = mkdtempSync(join(tmpdir(), 'tessera-bench-'));
const cloud = await startCloudProcess(['--data', dataDir, '--log-level', 'warn']);
try {
  const admin = adminClient(cloud.url, cloud.bootstrapKey);

  // A stand-in cluster issuer: its key signs the workload's evidence, the trust provider pins it.
  const cluster = await generateKeyPair('ES256', { extractable: true });
  const clusterJwk = { ...(await exportJWK(cluster.publicKey)), kid: 'bench', alg: 'ES256' };
  const trust = await admin.create('trust-providers', {
    name: 'cluster',
    type: 'oidc',
    config: { issuer: 'https://cluster.bench.test', jwks: { keys: [clusterJwk] }, algorithms: ['ES256'] },
  });
  const client = await admin.create('client-workloads', { name: 'bench-client', identities: [{ claim: 'oidc.subject', value: 'system:serviceaccount:bench:client' }] });
  const server = await admin.create('server-workloads', { name: 'bench-target', host: 'api.bench.test', port: 443, scheme: 'https', injection: { kind: 'header', name: 'authorization' } });
  const credential = await admin.create('credential-providers', { name: 'bench-key', type: 'api-key', secrets: { apiKey: 'sk_bench_value' } });
  await admin.create('access-policies', { name: 'bench', clientWorkloadIds: [client.id], serverWorkloadId: server.id, trustProviderIds: [trust.id], credentialProviderId: credential.id });

  const evidence = await new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: 'bench' })
    .setIssuer('https://cluster.bench.test')
    .setSubject('system:serviceaccount:bench:client')
    .setAudience(cloud.url)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(cluster.privateKey);
  const sdk = await generateKeyPair('ES256', { extractable: true });
  const sdkPublic = await exportJWK(sdk.publicKey);
  const attested = await admin.attest(evidence, sdk.privateKey, sdkPublic);

  const fill = await fillPolicies(admin, { trust, credential, total: 10 });
  const small = await measure(`${fill.policies} policies`);
  const started = performance.now();
  const filled = await fillPolicies(admin, { trust, credential, total: largePolicyCount });
  const fillSeconds = (performance.now() - started) / 1000;
  const large = await measure(`${filled.policies} policies`);

  const rows = [small, large];
  console.log(`\nPOST /edge/v1/credentials, api-key provider, embedded SQLite, ${connections} connections, ${durationSeconds} s each`);
  console.log('| policies | requests/s | p50 ms | p90 ms | p99 ms | max ms | non-200 |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const row of rows) {
    console.log(`| ${row.label} | ${row.rps.toFixed(0)} | ${row.p50.toFixed(2)} | ${row.p90.toFixed(2)} | ${row.p99.toFixed(2)} | ${row.max.toFixed(1)} | ${row.errors} |`);
  }
  console.log(`\nthroughput ratio (${large.label} / ${small.label}): ${(large.rps / small.rps).toFixed(3)}`);
  console.log(`creating ${filled.created} policies (and their workloads) through the admin API took ${fillSeconds.toFixed(1)} s`);

  async function measure(label) {
    const result = await runLoadGenerator({
      url: cloud.url,
      issuer: cloud.url,
      edgeToken: attested.edgeToken,
      privateJwk: await exportJWK(sdk.privateKey),
      publicJwk: sdkPublic,
      target: { scheme: 'https', host: 'api.bench.test', port: 443, path: '/v1/charges' },
      connections,
      durationSeconds,
      warmupSeconds: 2,
    });
    return { label, ...result };
  }
} finally {
  await cloud.stop();
  rmSync(dataDir, { recursive: true, force: true });
}

/** Adds filler policies (each with its own client workload, 100 shared servers) until `total` exist. */
async function fillPolicies(admin, { trust, credential, total }) {
  const existing = await admin.count('access-policies');
  const servers = [];
  for (let i = 0; i < Math.min(100, total); i++) {
    const name = `filler-server-${i}`;
    servers.push((await admin.findByName('server-workloads', name)) ?? (await admin.create('server-workloads', { name, host: `filler-${i}.bench.test`, port: 443, scheme: 'https', injection: { kind: 'basic' } })));
  }
  let created = 0;
  const work = [];
  for (let i = existing; i < total; i++) work.push(i);
  const worker = async () => {
    for (let i = work.shift(); i !== undefined; i = work.shift()) {
      const client = await admin.create('client-workloads', { name: `filler-client-${i}`, identities: [{ claim: 'oidc.subject', value: `filler-${i}` }] });
      await admin.create('access-policies', { name: `filler-${i}`, clientWorkloadIds: [client.id], serverWorkloadId: servers[i % servers.length].id, trustProviderIds: [trust.id], credentialProviderId: credential.id });
      created++;
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return { policies: await admin.count('access-policies'), created };
}

function runLoadGenerator(input) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [new URL('./load-generator.mjs', import.meta.url).pathname, JSON.stringify(input)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(output)) : reject(new Error(`load generator exited with ${code}`))));
  });
}
