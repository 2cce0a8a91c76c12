#!/usr/bin/env node
// What reporting managed requests costs, request metrics against the per-request edge events
// they replace, measured side by side in one run (bench/sdk/report-driver.mjs does the SDK's part):
//
//   - the SDK's CPU per managed request for reporting it: the interceptor in front of a stub
//     dispatcher (no network), reporting on against off, under steady traffic;
//   - the control plane's CPU per report and per request, measured in this process (it hosts the
//     control plane and nothing else) while a fleet of --fleet SDK instances (each with its own
//     key and edge token, as separate processes would be) each send --cycles reports of
//     --per-report requests (default 500: a full batch of edge events), --concurrency at a time.
//     The stub answers 200, 404 or 503 in turn: three series per report.
//
// A real SDK sends one report per interval (10 s by default), however many requests it made: the
// control plane's cost per request is its cost per report divided by the requests of an interval.
//
// `--baseline DIR`: a build of the release before request metrics (DIR/packages/sdk/dist and
// DIR/packages/cloud-server/dist), measured in the same rounds; without it, this build alone.
//
//   npm run build && node bench/request-metrics.mjs [--baseline DIR] [--rounds 3] [--iterations 20000]
//       [--trials 5] [--fleet 200] [--cycles 5] [--per-report 500] [--concurrency 1] [--json out.json]
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { adminClient } from './support.mjs';
import { IDP_ISSUER, SUBJECT } from './sdk/collector.mjs';

const { values } = parseArgs({
  options: {
    baseline: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    iterations: { type: 'string', default: '20000' },
    'per-report': { type: 'string', default: '500' },
    trials: { type: 'string', default: '5' },
    fleet: { type: 'string', default: '200' },
    cycles: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '1' },
    json: { type: 'string' },
  },
});
const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const builds = [{ name: 'request metrics', root: here('..'), metrics: true }];
if (values.baseline) builds.push({ name: 'edge events (baseline)', root: resolve(values.baseline), metrics: false });
for (const build of builds) {
  for (const dist of ['packages/sdk/dist/index.js', 'packages/cloud-server/dist/index.js']) {
    if (!existsSync(join(build.root, dist))) throw new Error(`${join(build.root, dist)} is missing: build it first`);
  }
}
const rounds = Number(values.rounds);
const iterations = Number(values.iterations);
const perReport = Number(values['per-report']);
const trials = Number(values.trials);
const fleet = Number(values.fleet);
const cycles = Number(values.cycles);
const concurrency = Number(values.concurrency);

const idpKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const kid = randomUUID();
const idpEnv = JSON.stringify({ privateJwk: idpKeys.privateKey.export({ format: 'jwk' }), kid });
const ORIGIN = 'http://127.0.0.1:9'; // in the directory; the stub dispatcher answers, nothing connects
const PATH = '/v1/items';

/** A fresh control plane of `build` in this process, configured through its admin API. */
async function startCloud(build) {
  const { resolveServerConfig, startServer } = await import(pathToFileURL(join(build.root, 'packages/cloud-server/dist/index.js')).href);
  const dataDir = mkdtempSync(join(os.tmpdir(), 'tessera-bench-metrics-'));
  const server = await startServer({ config: resolveServerConfig({ port: '0', data: dataDir, 'log-level': 'silent' }, {}), env: {} });
  const admin = adminClient(server.listeningUrl, server.bootstrapAdminKey);
  const jwk = { ...idpKeys.publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' };
  const trust = await admin.create('trust-providers', { name: 'bench-idp', type: 'oidc', config: { issuer: IDP_ISSUER, jwks: { keys: [jwk] }, algorithms: ['ES256'] } });
  const client = await admin.create('client-workloads', { name: 'bench', identities: [{ claim: 'oidc.subject', value: SUBJECT }] });
  const target = await admin.create('server-workloads', { name: 'items', scheme: 'http', host: '127.0.0.1', port: 9, injection: { kind: 'header', name: 'authorization' } });
  const key = await admin.create('credential-providers', { name: 'key', type: 'api-key', secrets: { apiKey: `sk_bench_${randomBytes(8).toString('hex')}` } });
  await admin.create('access-policies', { name: 'bench', clientWorkloadIds: [client.id], serverWorkloadId: target.id, trustProviderIds: [trust.id], credentialProviderId: key.id });
  return {
    url: server.listeningUrl,
    async stop() {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Runs the driver against `cloud`; this process's CPU between its `fleet` lines is the control plane's. */
function drive(build, cloud) {
  const off = build.metrics ? { metrics: false } : { events: false };
  const on = build.metrics ? { metrics: { flushIntervalMs: 0 } } : { events: { flushIntervalMs: 0 } };
  const env = {
    ...process.env,
    NODE_OPTIONS: '',
    TESSERA_BENCH_IDP: idpEnv,
    TESSERA_BENCH_REPORTS: JSON.stringify({ sdkModule: join(build.root, 'packages/sdk/dist/index.js'), cloudUrl: cloud.url, origin: ORIGIN, path: PATH, iterations, trials, batchEvery: !build.metrics, fleet, cycles, perReport, concurrency, quiet: off, reporting: on }),
  };
  const child = spawn(process.execPath, [here('./sdk/report-driver.mjs')], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let buffer = '';
  let started;
  let cloudMicros = 0;
  let result;
  child.stdout.on('data', (chunk) => {
    buffer += chunk;
    for (let end = buffer.indexOf('\n'); end >= 0; end = buffer.indexOf('\n')) {
      const message = JSON.parse(buffer.slice(0, end));
      buffer = buffer.slice(end + 1);
      if (message.phase === 'fleet-start') started = process.cpuUsage();
      else if (message.phase === 'fleet-end') {
        const used = process.cpuUsage(started);
        cloudMicros += used.user + used.system;
      } else result = message;
    }
  });
  return new Promise((done, fail) =>
    child.on('exit', (code) => (code === 0 && result ? done({ ...result, cloudMicros }) : fail(new Error(`driver exited with ${code}`)))),
  );
}

const results = Object.fromEntries(builds.map((build) => [build.name, []]));
console.log(
  `SDK: ${trials} trials of ${iterations} managed requests; control plane: ${fleet} SDK instances × ${cycles} reports of ${perReport} requests, ${concurrency} at a time; ` +
    `${rounds} rounds; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`,
);
for (let round = 0; round < rounds; round++) {
  for (const build of builds) {
    const cloud = await startCloud(build);
    try {
      const run = await drive(build, cloud);
      // One POST per flush: a report, or a batch of edge events (--per-report of at most 500).
      results[build.name].push({
        sdkAddedNs: run.addedNs,
        cloudUsPerPost: run.cloudMicros / run.fleet.flushes,
        cloudUsPerRequest: run.cloudMicros / run.fleet.requests,
        dropped: run.dropped,
      });
      const last = results[build.name].at(-1);
      console.log(`  round ${round + 1} ${build.name}: SDK +${(last.sdkAddedNs / 1000).toFixed(2)} µs/request; control plane ${last.cloudUsPerPost.toFixed(0)} µs/POST, ${last.cloudUsPerRequest.toFixed(2)} µs/request${run.dropped ? `; ${run.dropped} dropped` : ''}`);
    } finally {
      await cloud.stop();
    }
  }
}

// Medians of the rounds, with their range: the SDK's figure is a difference of two small
// measurements and moves with the machine's other load; the lowest would flatter it.
const median = (name, field) => {
  const sorted = results[name].map((each) => each[field]).sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
};
const range = (name, field, scale, digits) => {
  const all = results[name].map((each) => each[field] / scale);
  return `${Math.min(...all).toFixed(digits)}–${Math.max(...all).toFixed(digits)}`;
};
console.log('\nmedian of the rounds (range in brackets):');
for (const build of builds) {
  const name = build.name;
  const unit = build.metrics ? 'report' : `batch of ${perReport} events`;
  console.log(
    `  ${name}: SDK reporting +${(median(name, 'sdkAddedNs') / 1000).toFixed(2)} µs per request (${range(name, 'sdkAddedNs', 1000, 2)}); ` +
      `control plane ${median(name, 'cloudUsPerPost').toFixed(0)} µs per ${unit} (${range(name, 'cloudUsPerPost', 1, 0)}), ` +
      `${median(name, 'cloudUsPerRequest').toFixed(2)} µs per request`,
  );
}
if (builds.length === 2) {
  const [now, before] = builds.map((build) => build.name);
  // A difference whose rounds straddle zero is noise: no ratio to speak of.
  const sdkNow = Math.min(...results[now].map((each) => each.sdkAddedNs)) > 0 ? `${(median(before, 'sdkAddedNs') / median(now, 'sdkAddedNs')).toFixed(1)}×` : 'n/a (request metrics within the noise)';
  console.log(`  ratios (baseline / request metrics): SDK ${sdkNow}, control plane per request ${(median(before, 'cloudUsPerRequest') / median(now, 'cloudUsPerRequest')).toFixed(1)}×`);
}
const perReportUs = median(builds[0].name, 'cloudUsPerPost');
console.log(`  100,000 processes reporting every 10 s: 10,000 reports/s, ${((100_000 / 10) * perReportUs / 1e6).toFixed(1)} cores of control plane at ${perReportUs.toFixed(0)} µs a report (${concurrency} at a time)`);
if (values.json) writeFileSync(values.json, JSON.stringify({ rounds, trials, iterations, fleet, cycles, perReport, concurrency, results }, null, 2));
