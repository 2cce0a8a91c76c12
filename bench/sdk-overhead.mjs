// The SDK's overhead on outgoing requests, measured side by side in one run against a loopback
// HTTP/1.1 keep-alive server (its own process). Four variants, each in its own process (so their
// globals never mix), each driven by Node's built-in `fetch` with a fixed number of requests in
// flight, interleaved in rounds (A B C D A B C D ...) so that drift in the machine's load hits all
// of them alike:
//
//   plain      fetch, no SDK loaded
//   unmanaged  fetch with init() from the built @tessera/sdk (global interception on), to a
//              target that is not in the workload's directory
//   managed    the same, to a managed target (header injection) with a cached credential
//   nginx      fetch, no SDK, through nginx on loopback adding a static Authorization header
//              (the sidecar users run today); skipped, with a hint, when nginx is not installed
//
// Each round runs every variant under load (`--concurrency` in flight, `--duration` seconds),
// then one request at a time (`--latency-duration` seconds) for the latency a single request
// pays. The target records which Authorization header arrived: every phase is checked. Figures
// are given two ways: the median of per-round figures (each round's variants ran back to back)
// and the best rounds (each variant's least disturbed phase; other load only ever slows a phase).
// Every phase also accounts the CPU time its processes used (the client, the target, nginx, the
// control plane), which shows where the cycles went, e.g. to ingesting reports. `--diagnose`
// adds a variant "managed, request metrics off" (init option `metrics: false`) to separate the cost
// of reporting from interception and injection, and two without the SDK that compose a
// do-nothing interceptor onto the global dispatcher — through npm undici's setGlobalDispatcher
// (the built-in fetch then goes through undici 8's Dispatcher1Wrapper), and in place on the
// built-in dispatcher as init() does — to separate the cost of that plumbing from the SDK's own
// code; and one that imports the SDK without calling init(), for the cost of merely loading it.
// Then, in fresh processes: the cold first managed request (init() → first response) against the
// same first request carrying a static header, interleaved (median of `--cold-runs` pairs); the
// SDK's added memory after `--memory-requests` managed requests; the interceptor's own CPU per
// request against a stub dispatcher (bench/sdk/hot-path.mjs; no network, so it holds up on a busy
// machine); and, through bench/sdk-footprint.mjs, the time `--import @tessera/sdk/register` adds
// to an empty process (`--register-runs` interleaved pairs), the bundle of
// `import { init } from '@tessera/sdk'` and the modules import and register load. 0 turns any of
// these off. The run ends with one goal table (the SDK's performance goals, docs/benchmarks.md):
// MET / MISS per row with the figures measured.
//
// The control plane is a real @tessera/cloud-server (embedded store) in its own process
// (bench/sdk/control-plane.mjs), its CPU reported apart, configured through the admin API; the SDK attests with JWTs minted by a test identity provider
// (bench/sdk/collector.mjs, an ES256 key generated here and pinned in an `oidc` trust provider).
//
//   npm run build && node bench/sdk-overhead.mjs [--duration 1.5] [--rounds 8] [--concurrency 32]
//       [--latency-duration 0.5] [--cold-runs 10] [--memory-requests 1000] [--memory-runs 3]
//       [--hot-path-iterations 100000] [--register-runs 10] [--json out.json]
//       [--rotate] [--diagnose] [--only unmanaged,sdk-imported,...] [--cpu-prof <dir>]   (node --cpu-prof for every variant's process; prints the
//       top frames and the SDK's own, and leaves <variant>.cpuprofile in <dir> for DevTools)
import { fork, spawn } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { IDP_ISSUER, SUBJECT } from './sdk/collector.mjs';
import { findNginx, nginxVersion, startNginx } from './sdk/nginx.mjs';
import { attributable, topFrames } from './sdk/profile-top.mjs';
import { describeGraph, measureBundle, measureImportGraph, measureRegisterStart } from './sdk-footprint.mjs';
import { adminClient } from './support.mjs';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '1.5' },
    rounds: { type: 'string', default: '8' },
    concurrency: { type: 'string', default: '32' },
    'latency-duration': { type: 'string', default: '0.5' },
    'cold-runs': { type: 'string', default: '10' },
    'memory-requests': { type: 'string', default: '1000' },
    'memory-runs': { type: 'string', default: '3' },
    'hot-path-iterations': { type: 'string', default: '100000' },
    'register-runs': { type: 'string', default: '10' },
    json: { type: 'string' },
    'cpu-prof': { type: 'string' },
    diagnose: { type: 'boolean', default: false },
    rotate: { type: 'boolean', default: false },
    only: { type: 'string' },
  },
});
const durationMs = Number(values.duration) * 1000;
const rounds = Number(values.rounds);
const concurrency = Number(values.concurrency);
const latencyMs = Number(values['latency-duration']) * 1000;
const coldRuns = Number(values['cold-runs']);
const memoryRequests = Number(values['memory-requests']);
const memoryRuns = Number(values['memory-runs']);
const hotPathIterations = Number(values['hot-path-iterations']);
const registerRuns = Number(values['register-runs']);
const profileDir = values['cpu-prof'] === undefined ? undefined : resolve(values['cpu-prof']);
for (const name of ['duration', 'rounds', 'concurrency', 'latency-duration', 'cold-runs', 'memory-requests', 'memory-runs', 'hot-path-iterations', 'register-runs']) {
  const value = Number(values[name]);
  const mayBeZero = !['duration', 'rounds', 'concurrency', 'memory-requests'].includes(name);
  if (!Number.isFinite(value) || value < 0 || (value === 0 && !mayBeZero)) throw new Error(`invalid --${name}: ${values[name]}`);
}

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const DRIVER = here('./sdk/driver.mjs');
const TARGET = here('./sdk/target-server.mjs');
const COLD = here('./sdk/cold.mjs');
const MEMORY = here('./sdk/memory.mjs');
const HOT_PATH = here('./sdk/hot-path.mjs');
const CONTROL_PLANE = here('./sdk/control-plane.mjs');
for (const built of ['../packages/sdk/dist/index.js', '../packages/cloud-server/dist/index.js']) {
  // A dist being rebuilt (tsup cleans it first) comes back within seconds; a missing build does not.
  for (let waited = 0; !existsSync(here(built)); waited++) {
    if (waited === 20) {
      console.error(`${built.slice(3)} is missing: build first (npm run build)`);
      process.exit(1);
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
}
/** Which build of the SDK was measured: a hash over its dist/*.js (the SDK is under active work). */
const sdkDist = here('../packages/sdk/dist/');
const buildOf = () => {
  try {
    const files = readdirSync(sdkDist).filter((f) => f.endsWith('.js')).sort();
    return createHash('sha256').update(files.map((f) => f + readFileSync(join(sdkDist, f), 'utf8')).join('\n')).digest('hex').slice(0, 12);
  } catch {
    return 'missing';
  }
};
const sdkBuild = buildOf();

const API_KEY = `sk_bench_${randomBytes(12).toString('hex')}`;
const NGINX_TOKEN = `static_bench_${randomBytes(12).toString('hex')}`;
const MANAGED_HEADER = `Bearer ${API_KEY}`;
const NGINX_HEADER = `Bearer ${NGINX_TOKEN}`;
const PATH = '/v1/items';
/** SDK frames that hand a request or a response on (to the next dispatcher, to fetch's handler). */
const PASS_THROUGH = ['forward', 'onRequestStart', 'onRequestUpgrade', 'onResponseStart', 'onResponseData', 'onResponseEnd', 'onResponseError'];

const VARIANTS = [
  { name: 'plain', label: 'plain fetch (no SDK)', sdk: false, port: 'plain', expect: '(none)' },
  { name: 'unmanaged', label: 'SDK, unmanaged target', sdk: true, port: 'plain', expect: '(none)' },
  { name: 'managed', label: 'SDK, managed target (cached)', sdk: true, port: 'managed', expect: MANAGED_HEADER },
  { name: 'nginx', label: 'nginx sidecar (static header)', sdk: false, port: 'nginx', expect: NGINX_HEADER },
];
if (values.diagnose) {
  VARIANTS.splice(
    3,
    0,
    { name: 'managed-nometrics', label: 'SDK, managed, request metrics off', sdk: true, options: { metrics: false }, port: 'managed', expect: MANAGED_HEADER },
    { name: 'chain-wrapped', label: 'no SDK: no-op interceptor via npm setGlobalDispatcher', sdk: false, chain: 'npm-wrapper', port: 'plain', expect: '(none)' },
    { name: 'chain-in-place', label: 'no SDK: no-op interceptor on the built-in dispatcher', sdk: false, chain: 'in-place', port: 'plain', expect: '(none)' },
    { name: 'sdk-imported', label: 'SDK imported, init() not called', sdk: true, init: false, port: 'plain', expect: '(none)' },
  );
}

const started = performance.now();
const cleanups = [];
const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, sdkBuild, loadavgBefore: os.loadavg() };
console.log(`SDK overhead: ${machine.cpus} cores, Node ${process.version}, SDK build ${sdkBuild}, load average ${machine.loadavgBefore.map((l) => l.toFixed(2)).join(' ')}`);

try {
  // ---- the target, the control plane, nginx ----------------------------------------------------
  const target = ipc(fork(TARGET, [], { execArgv: [], env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  cleanups.push(() => target.stop());
  const { ports } = await target.next('ready');
  const targetStats = async () => {
    target.send({ type: 'stats' });
    return target.next('stats');
  };

  const controlPlane = ipc(fork(CONTROL_PLANE, [], { execArgv: [], env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  cleanups.push(() => controlPlane.stop());
  const cloud = await controlPlane.next('ready');
  const cloudUrl = cloud.url;
  const controlPlaneCpuUs = async () => {
    controlPlane.send({ type: 'cpu' });
    return (await controlPlane.next('cpu')).cpuUs;
  };

  const idpKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = randomUUID();
  const idpEnv = JSON.stringify({ privateJwk: idpKeys.privateKey.export({ format: 'jwk' }), kid });
  const admin = adminClient(cloud.listeningUrl, cloud.bootstrapAdminKey);
  const trust = await admin.create('trust-providers', {
    name: 'bench-idp',
    type: 'oidc',
    config: { issuer: IDP_ISSUER, jwks: { keys: [{ ...idpKeys.publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' }] }, algorithms: ['ES256'] },
  });
  const client = await admin.create('client-workloads', { name: 'bench-client', identities: [{ claim: 'oidc.subject', value: SUBJECT }] });
  const server = await admin.create('server-workloads', {
    name: 'bench-api',
    scheme: 'http',
    host: '127.0.0.1',
    port: ports.managed,
    injection: { kind: 'header', name: 'authorization' },
  });
  const credential = await admin.create('credential-providers', { name: 'bench-key', type: 'api-key', secrets: { apiKey: API_KEY } });
  await admin.create('access-policies', { name: 'bench', clientWorkloadIds: [client.id], serverWorkloadId: server.id, trustProviderIds: [trust.id], credentialProviderId: credential.id });

  const urls = { plain: `http://127.0.0.1:${ports.plain}${PATH}`, managed: `http://127.0.0.1:${ports.managed}${PATH}` };
  const nginxBinary = findNginx();
  let nginx;
  if (nginxBinary === undefined) {
    console.log('\nnginx is not installed: the nginx variant is skipped. To include it (Debian/Ubuntu):\n  sudo apt-get install -y nginx-light   # or: nginx\n');
  } else {
    nginx = await startNginx({ binary: nginxBinary, upstreamPort: ports.plain, authorization: NGINX_HEADER });
    cleanups.push(() => nginx.stop());
    urls.nginx = `http://127.0.0.1:${nginx.port}${PATH}`;
    machine.nginx = nginxVersion(nginxBinary);
  }
  const only = values.only?.split(',').map((name) => name.trim());
  for (const name of only ?? []) if (!VARIANTS.some((v) => v.name === name)) throw new Error(`--only: no variant "${name}" (with --diagnose for the diagnostic ones)`);
  const active = VARIANTS.filter((v) => urls[v.port] !== undefined && (only === undefined || v.name === 'plain' || only.includes(v.name)));

  // ---- one process per variant ------------------------------------------------------------------
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const drivers = new Map();
  await Promise.all(
    active.map(async (variant) => {
      const env = {
        ...process.env,
        NODE_OPTIONS: '',
        TESSERA_BENCH_DRIVER: JSON.stringify({
          variant: variant.name,
          url: urls[variant.port],
          sdk: variant.sdk ? { cloudUrl, options: variant.options ?? {}, init: variant.init ?? true } : false,
          ...(variant.chain ? { chain: variant.chain } : {}),
          concurrency,
          warmupMs: 1500,
        }),
        ...(variant.sdk ? { TESSERA_BENCH_IDP: idpEnv } : {}),
      };
      const execArgv = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-name', `${variant.name}.cpuprofile`] : [];
      const driver = ipc(fork(DRIVER, [], { execArgv, env, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
      cleanups.push(() => driver.stop());
      const { setup } = await driver.next('ready');
      if (setup.firstStatus !== 200) throw new Error(`${variant.name}: the first request answered ${setup.firstStatus}`);
      drivers.set(variant.name, { driver, setup });
    }),
  );
  const sdkSetup = [...drivers.values()].find((d) => d.setup.targets)?.setup;
  console.log(`control plane ${cloudUrl}` + (sdkSetup ? `; client workload "${sdkSetup.clientWorkload}" may call ${sdkSetup.targets.join(', ')}` : ''));
  console.log(`target ${urls.plain} (plain, unmanaged${nginx ? ', nginx upstream' : ''}) and ${urls.managed} (managed)${nginx ? `; nginx ${machine.nginx} on :${nginx.port}` : ''}`);
  console.log(`the built-in fetch dispatches through: ${active.map((v) => `${v.name} ${drivers.get(v.name).setup.fetchDispatcher}`).join(', ')}`);
  machine.fetchDispatcher = Object.fromEntries(active.map((v) => [v.name, drivers.get(v.name).setup.fetchDispatcher]));
  let targetCpu = (await targetStats()).cpuUs; // and forget the warm-up requests

  // ---- interleaved rounds -----------------------------------------------------------------------
  const results = Object.fromEntries(active.map((v) => [v.name, { load: [], serial: [] }]));
  const checks = [];
  const runPhase = async (variant, phaseMs, inFlight) => {
    const { driver } = drivers.get(variant.name);
    const cloudCpu = await controlPlaneCpuUs();
    const nginxCpu = variant.port === 'nginx' ? nginx.cpuUs() : undefined;
    driver.send({ type: 'phase', durationMs: phaseMs, concurrency: inFlight });
    const result = await driver.next('result');
    const cloudUsed = (await controlPlaneCpuUs()) - cloudCpu;
    const nginxUsed = nginxCpu === undefined ? 0 : nginx.cpuUs() - nginxCpu;
    const stats = await targetStats();
    const targetUsed = stats.cpuUs - targetCpu;
    targetCpu = stats.cpuUs;
    const check = checkHeaders(variant, stats, result.requests);
    const port = variant.port === 'managed' ? 'managed' : 'plain';
    checks.push({ variant: variant.name, concurrency: inFlight, ...check });
    if (!check.ok) console.log(`  !! ${variant.name}: ${check.problem}`);
    const sorted = result.latenciesUs.sort();
    return {
      requests: result.requests,
      errors: result.errors,
      firstError: result.firstError,
      elapsedMs: result.elapsedMs,
      rps: (result.requests / result.elapsedMs) * 1000,
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
      droppedRequests: result.droppedRequests,
      cloudCalls: result.cloudCalls,
      measuredFromUs: result.measuredFromUs,
      cpuUs: { client: result.cpuUs, target: targetUsed, nginx: nginxUsed, cloud: cloudUsed },
      connections: stats.connections[port],
      latenciesUs: sorted,
    };
  };
  console.log(`\n${rounds} rounds × ${active.length} variants: ${concurrency} in flight for ${durationMs / 1000} s, then 1 in flight for ${latencyMs / 1000} s`);
  for (let round = 1; round <= rounds; round++) {
    const line = [];
    // --rotate: A B C D, then B C D A, ...: no variant always follows the same one.
    const order = values.rotate ? active.map((_, i) => active[(i + round - 1) % active.length]) : active;
    for (const variant of order) {
      const load = await runPhase(variant, durationMs, concurrency);
      results[variant.name].load.push(load);
      let text = `${variant.name} ${fmt(load.rps, 0)}/s p50 ${fmt(load.p50, 0)} µs`;
      if (latencyMs > 0) {
        const serial = await runPhase(variant, latencyMs, 1);
        results[variant.name].serial.push(serial);
        text += ` (1: ${fmt(serial.p50, 0)} µs)`;
      }
      if (load.errors) text += ` [${load.errors} errors: ${load.firstError}]`;
      if (load.connections > concurrency) text += ` [${load.connections} new connections]`;
      line.push(text);
    }
    console.log(`round ${round}: ${line.join(' | ')}`);
  }

  // ---- cold first request, memory ---------------------------------------------------------------
  const cold = { sdk: [], static: [] };
  if (coldRuns > 0) {
    console.log(`\ncold start: ${coldRuns} fresh processes each, with the SDK and with a static header, interleaved`);
    const env = { ...process.env, NODE_OPTIONS: '', TESSERA_BENCH_IDP: idpEnv, TESSERA_BENCH_COLD: JSON.stringify({ url: urls.managed, cloudUrl, header: MANAGED_HEADER }) };
    await targetStats();
    for (let i = 0; i < coldRuns; i++) {
      cold.sdk.push(await runNode([COLD, 'sdk'], env));
      cold.static.push(await runNode([COLD, 'static'], env));
    }
    const seen = (await targetStats()).seen.managed;
    const carried = seen[MANAGED_HEADER] ?? 0;
    checks.push({ variant: 'cold', ok: carried === 2 * coldRuns, seen: classify(seen) });
    if ([...cold.sdk, ...cold.static].some((r) => r.status !== 200) || carried !== 2 * coldRuns) console.log(`  !! cold: ${carried}/${2 * coldRuns} first requests carried the credential`);
  }
  const memory = { sdk: [], plain: [] };
  if (memoryRuns > 0) {
    console.log(`memory: ${memoryRuns} fresh processes each, ${memoryRequests} requests (${concurrency} in flight) with and without the SDK`);
    const env = { ...process.env, NODE_OPTIONS: '', TESSERA_BENCH_IDP: idpEnv, TESSERA_BENCH_MEMORY: JSON.stringify({ url: urls.managed, cloudUrl, requests: memoryRequests, concurrency }) };
    for (let i = 0; i < memoryRuns; i++) {
      memory.sdk.push(await runNode(['--expose-gc', MEMORY, 'sdk'], env));
      memory.plain.push(await runNode(['--expose-gc', MEMORY, 'plain'], env));
    }
    await targetStats();
  }
  let hotPath = null;
  if (hotPathIterations > 0) {
    console.log(`hot path: the interceptor alone against a stub dispatcher, ${hotPathIterations} requests × 5 trials per case`);
    const env = {
      ...process.env,
      NODE_OPTIONS: '',
      TESSERA_BENCH_IDP: idpEnv,
      TESSERA_BENCH_HOTPATH: JSON.stringify({
        cloudUrl,
        managedOrigin: `http://127.0.0.1:${ports.managed}`,
        unmanagedOrigin: `http://127.0.0.1:${ports.plain}`,
        path: PATH,
        iterations: hotPathIterations,
        eventIterations: Math.min(hotPathIterations, 10_000),
        trials: 5,
      }),
    };
    hotPath = await runNode([HOT_PATH], env);
    if (!hotPath.credentialPlaced) console.log('  !! hot path: the managed cases did not all carry the credential');
  }
  let footprint = null;
  if (registerRuns > 0) {
    console.log(`start-up: --import @tessera/sdk/register vs an empty process, ${registerRuns} fresh processes each, interleaved; the esbuild bundle of import { init }; the modules import and register load`);
    footprint = { bundle: await measureBundle(), graph: measureImportGraph(), register: measureRegisterStart({ runs: registerRuns }) };
  }
  machine.loadavgAfter = os.loadavg();
  machine.sdkBuildAfter = buildOf();

  // ---- figures ----------------------------------------------------------------------------------
  const summary = {};
  for (const variant of active) {
    const { load, serial } = results[variant.name];
    const pooled = merge(load.map((r) => r.latenciesUs));
    const pooledSerial = merge(serial.map((r) => r.latenciesUs));
    const requests = sum(load.map((r) => r.requests));
    summary[variant.name] = {
      label: variant.label,
      requests,
      errors: sum(load.map((r) => r.errors)) + sum(serial.map((r) => r.errors)),
      rps: (requests / sum(load.map((r) => r.elapsedMs))) * 1000,
      rpsRounds: load.map((r) => r.rps),
      p50Us: percentile(pooled, 0.5),
      p99Us: percentile(pooled, 0.99),
      serialRps: serial.length ? (sum(serial.map((r) => r.requests)) / sum(serial.map((r) => r.elapsedMs))) * 1000 : null,
      serialP50Us: serial.length ? percentile(pooledSerial, 0.5) : null,
      serialP99Us: serial.length ? percentile(pooledSerial, 0.99) : null,
      droppedRequests: load.at(-1)?.droppedRequests ?? 0,
      cpuUsPerRequest: cpuPerRequest(load),
      serialCpuUsPerRequest: serial.length ? cpuPerRequest(serial) : null,
      cloudCallsUnderLoad: sumCounts(load.map((r) => r.cloudCalls ?? {})),
      connectionsOpened: sum([...load, ...serial].map((r) => r.connections)),
    };
  }
  /** Per round, then the median: each round's variants ran back to back, so drift mostly cancels. */
  const perRound = (a, b, pick, op) => {
    if (!results[a] || !results[b]) return null;
    const serial = pick === 'serialP50' || pick === 'serialRps';
    const rows = results[a][serial ? 'serial' : 'load'].map((r, i) => {
      const other = results[b][serial ? 'serial' : 'load'][i];
      const field = pick === 'serialP50' ? 'p50' : pick === 'serialRps' ? 'rps' : pick;
      return op(r[field], other[field]);
    });
    return { median: median(rows), min: Math.min(...rows), max: Math.max(...rows), rounds: rows };
  };
  const ratio = (x, y) => x / y;
  const minus = (x, y) => x - y;
  const others = active.filter((v) => v.name !== 'plain').map((v) => v.name);
  const ratios = {
    unmanagedVsPlain: perRound('unmanaged', 'plain', 'rps', ratio),
    managedVsPlain: perRound('managed', 'plain', 'rps', ratio),
    managedVsNginx: perRound('managed', 'nginx', 'rps', ratio),
    nginxVsPlain: perRound('nginx', 'plain', 'rps', ratio),
    ...(results['managed-nometrics'] ? { managedNoMetricsVsPlain: perRound('managed-nometrics', 'plain', 'rps', ratio) } : {}),
  };
  const addedP50Us = {
    unmanagedSerial: latencyMs > 0 ? perRound('unmanaged', 'plain', 'serialP50', minus) : null,
    managedSerial: latencyMs > 0 ? perRound('managed', 'plain', 'serialP50', minus) : null,
    nginxSerial: latencyMs > 0 ? perRound('nginx', 'plain', 'serialP50', minus) : null,
    unmanagedLoaded: perRound('unmanaged', 'plain', 'p50', minus),
    managedLoaded: perRound('managed', 'plain', 'p50', minus),
  };
  /**
   * CPU per request. At 1 in flight every request is one trip through the event loop in every
   * variant, so the client's CPU per request compares like with like; under load it also moves
   * with how many responses each loop iteration handles, which depends on the server side.
   */
  const cpu = {
    clientAddedUsSerial: latencyMs > 0 ? Object.fromEntries(others.map((n) => [n, summary[n].serialCpuUsPerRequest.client - summary.plain.serialCpuUsPerRequest.client])) : null,
    clientAddedUsLoaded: Object.fromEntries(others.map((n) => [n, summary[n].cpuUsPerRequest.client - summary.plain.cpuUsPerRequest.client])),
    allProcessesRatioLoaded: Object.fromEntries(others.map((n) => [n, summary[n].cpuUsPerRequest.total / summary.plain.cpuUsPerRequest.total])),
  };
  /**
   * Best rounds: each variant's least disturbed phase (highest requests/s, lowest p50, least CPU
   * per request). Other load on the machine only ever slows a phase down, so on a shared machine
   * these are the steadier estimate; the median of per-round figures is the other one.
   */
  const best = {};
  for (const variant of active) {
    const { load, serial } = results[variant.name];
    best[variant.name] = {
      rps: Math.max(...load.map((r) => r.rps)),
      serialP50Us: serial.length ? Math.min(...serial.map((r) => r.p50)) : null,
      serialClientCpuUs: serial.length ? Math.min(...serial.map((r) => r.cpuUs.client / r.requests)) : null,
    };
  }
  const bestOf = (a, b, field, op) => (best[a] && best[b] && best[a][field] !== null ? op(best[a][field], best[b][field]) : null);
  const bestFigures = {
    unmanagedVsPlain: bestOf('unmanaged', 'plain', 'rps', ratio),
    managedVsPlain: bestOf('managed', 'plain', 'rps', ratio),
    managedVsNginx: bestOf('managed', 'nginx', 'rps', ratio),
    nginxVsPlain: bestOf('nginx', 'plain', 'rps', ratio),
    ...(best['managed-nometrics'] ? { managedNoMetricsVsPlain: bestOf('managed-nometrics', 'plain', 'rps', ratio) } : {}),
    addedP50UsManaged: bestOf('managed', 'plain', 'serialP50Us', minus),
    addedP50UsUnmanaged: bestOf('unmanaged', 'plain', 'serialP50Us', minus),
    addedP50UsNginx: bestOf('nginx', 'plain', 'serialP50Us', minus),
    addedClientCpuUs: Object.fromEntries(others.map((n) => [n, bestOf(n, 'plain', 'serialClientCpuUs', minus)])),
  };
  const coldSummary = coldRuns > 0
    ? {
        runs: coldRuns,
        sdkTotalMs: median(cold.sdk.map((r) => r.totalMs)),
        sdkInitMs: median(cold.sdk.map((r) => r.initMs)),
        sdkFirstFetchMs: median(cold.sdk.map((r) => r.firstFetchMs)),
        sdkImportMs: median(cold.sdk.map((r) => r.importMs)),
        staticFirstFetchMs: median(cold.static.map((r) => r.firstFetchMs)),
        /** Per pair of fresh processes run back to back, then the median. */
        addedMs: median(cold.sdk.map((r, i) => r.totalMs - cold.static[i].firstFetchMs)),
        sdkTotalRangeMs: [Math.min(...cold.sdk.map((r) => r.totalMs)), Math.max(...cold.sdk.map((r) => r.totalMs))],
      }
    : null;
  const memorySummary = memoryRuns > 0
    ? {
        runs: memoryRuns,
        requests: memoryRequests,
        sdk: { rss: median(memory.sdk.map((m) => m.rss)), heapUsed: median(memory.sdk.map((m) => m.heapUsed)) },
        plain: { rss: median(memory.plain.map((m) => m.rss)), heapUsed: median(memory.plain.map((m) => m.heapUsed)) },
      }
    : null;
  if (memorySummary) {
    memorySummary.addedRss = memorySummary.sdk.rss - memorySummary.plain.rss;
    memorySummary.addedHeapUsed = memorySummary.sdk.heapUsed - memorySummary.plain.heapUsed;
  }

  const mb = (b) => `${(b / 1048576).toFixed(1)} MB`;
  const ms = (v) => `${fmt(v, 1)} ms`;
  const ratioText = (v) => fmt(v, 3);
  /** The SDK's performance goals (docs/benchmarks.md), each with what this run measured. */
  const goals = [
    goal('managed (cached) / plain fetch, 32 in flight ≥ 0.90', ratios.managedVsPlain, bestFigures.managedVsPlain, (v) => v >= 0.9, ratioText),
    goal('managed / nginx sidecar, 32 in flight ≥ 1.0', ratios.managedVsNginx, bestFigures.managedVsNginx, (v) => v >= 1, ratioText),
    goal('unmanaged / plain, 32 in flight ≥ 0.98', ratios.unmanagedVsPlain, bestFigures.unmanagedVsPlain, (v) => v >= 0.98, ratioText),
    goal('added p50, 1 in flight, managed < 30 µs', addedP50Us.managedSerial, bestFigures.addedP50UsManaged, (v) => v < 30, us),
    single('--import register added to an empty process < 60 ms', footprint?.register['register (current)']?.addedMs, (v) => v < 60, ms, `median of ${registerRuns} interleaved pairs`),
    single('first managed request in a fresh process vs the same with a static header < +50 ms', coldSummary?.addedMs, (v) => v < 50, ms, `median of ${coldRuns} pairs; init() → first response`),
    single("bundle of import { init } from '@tessera/sdk' < 400 KB", footprint?.bundle.bytes, (v) => v < 400 * 1024, (v) => `${fmt(v / 1024, 1)} KB`, 'esbuild, minified'),
    single(`heap after ${memoryRequests} managed requests < +6 MB`, memorySummary?.addedHeapUsed, (v) => v < 6 * 1048576, (v) => `+${mb(v)}`, `median of ${memoryRuns}, after forced GC`),
  ];

  // ---- report -----------------------------------------------------------------------------------
  console.log(`\nNode's fetch, HTTP/1.1 keep-alive on loopback, ${concurrency} in flight, ${rounds} rounds × ${durationMs / 1000} s interleaved; "1 in flight": ${rounds} × ${latencyMs / 1000} s`);
  console.log('| variant | requests/s | vs plain | p50 µs | p99 µs | 1 in flight: p50 µs | p99 µs | client CPU µs/req | CPU µs/req, all processes | Authorization seen |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const variant of active) {
    const s = summary[variant.name];
    const vsPlain = variant.name === 'plain' ? '1' : fmt(perRound(variant.name, 'plain', 'rps', ratio).median, 3);
    const seen = checks.filter((c) => c.variant === variant.name);
    const headers = seen.every((c) => c.ok) ? expectText(variant) : `FAILED (${seen.filter((c) => !c.ok).length} phases)`;
    console.log(
      `| ${s.label} | ${fmt(s.rps, 0)} | ${vsPlain} | ${fmt(s.p50Us, 0)} | ${fmt(s.p99Us, 0)} | ${fmt(s.serialP50Us, 0)} | ${fmt(s.serialP99Us, 0)} | ` +
        `${fmt(s.serialCpuUsPerRequest?.client, 1)} | ${fmt(s.cpuUsPerRequest.total, 1)} | ${headers} |`,
    );
  }
  console.log('\nratios (median of the per-round ratios; min – max over rounds):');
  for (const [name, r] of Object.entries(ratios)) if (r) console.log(`  ${name.padEnd(18)} ${fmt(r.median, 3)}  (${fmt(r.min, 3)} – ${fmt(r.max, 3)})`);
  console.log('added p50 latency, µs (median of per-round differences):');
  for (const [name, r] of Object.entries(addedP50Us)) if (r) console.log(`  ${name.padEnd(18)} ${fmt(r.median, 1)}  (${fmt(r.min, 1)} – ${fmt(r.max, 1)})`);
  console.log(
    `best rounds (each variant's least disturbed phase): unmanaged/plain ${fmt(bestFigures.unmanagedVsPlain, 3)}, managed/plain ${fmt(bestFigures.managedVsPlain, 3)}, ` +
      `managed/nginx ${fmt(bestFigures.managedVsNginx, 3)}, nginx/plain ${fmt(bestFigures.nginxVsPlain, 3)}` +
      (bestFigures.managedNoMetricsVsPlain !== undefined ? `, managed-nometrics/plain ${fmt(bestFigures.managedNoMetricsVsPlain, 3)}` : '') +
      `; added p50 at 1 in flight: managed ${us(bestFigures.addedP50UsManaged)}, unmanaged ${us(bestFigures.addedP50UsUnmanaged)}, nginx ${us(bestFigures.addedP50UsNginx)}` +
      `; added client CPU per request at 1 in flight: ${Object.entries(bestFigures.addedClientCpuUs).map(([k, v]) => `${k} ${us(v)}`).join(', ')}`,
  );
  console.log('CPU per request, µs (client = the fetch process; "1 in flight" compares like with like, see the docs):');
  for (const variant of active) {
    const c = summary[variant.name].cpuUsPerRequest;
    const one = summary[variant.name].serialCpuUsPerRequest;
    console.log(
      `  ${variant.name.padEnd(17)} 1 in flight: client ${fmt(one?.client, 1)}, all ${fmt(one?.total, 1)}` +
        ` | under load: client ${fmt(c.client, 1)}, target ${fmt(c.target, 1)}, nginx ${fmt(c.nginx, 1)}, control plane ${fmt(c.cloud, 1)}; all ${fmt(c.total, 1)}`,
    );
  }
  if (cpu.clientAddedUsSerial) console.log(`  added client CPU per request, 1 in flight: ${Object.entries(cpu.clientAddedUsSerial).map(([k, v]) => `${k} ${us(v)}`).join(', ')}`);
  console.log(`  added client CPU per request, under load: ${Object.entries(cpu.clientAddedUsLoaded).map(([k, v]) => `${k} ${us(v)}`).join(', ')}`);
  console.log(`  CPU of all processes per request vs plain, under load: ${Object.entries(cpu.allProcessesRatioLoaded).map(([k, v]) => `${k} ${fmt(v, 3)}×`).join(', ')}`);
  if (coldSummary) {
    console.log(
      `\ncold first managed request (fresh process, init() start → first response), median of ${coldRuns}: ${fmt(coldSummary.sdkTotalMs, 1)} ms` +
        ` (init/attestation ${fmt(coldSummary.sdkInitMs, 1)} ms + first fetch incl. credential ${fmt(coldSummary.sdkFirstFetchMs, 1)} ms; range ${fmt(coldSummary.sdkTotalRangeMs[0], 1)} – ${fmt(coldSummary.sdkTotalRangeMs[1], 1)} ms)`,
    );
    console.log(
      `  the same first request with a static header (no SDK): ${fmt(coldSummary.staticFirstFetchMs, 1)} ms; added by the SDK ${fmt(coldSummary.addedMs, 1)} ms ` +
        `(median of per-pair differences); import of @tessera/sdk apart: ${fmt(coldSummary.sdkImportMs, 1)} ms`,
    );
  }
  if (memorySummary) {
    console.log(
      `memory after ${memoryRequests} requests and forced GC (median of ${memoryRuns}): RSS ${mb(memorySummary.sdk.rss)} with the SDK vs ${mb(memorySummary.plain.rss)} without (+${mb(memorySummary.addedRss)}); ` +
        `heap used ${mb(memorySummary.sdk.heapUsed)} vs ${mb(memorySummary.plain.heapUsed)} (+${mb(memorySummary.addedHeapUsed)})`,
    );
  }
  if (hotPath) {
    const fetchNs = hotPath.nsPerRequest.fetch;
    hotPath.shareOfFetch = Object.fromEntries(Object.entries(hotPath.addedNs).map(([k, ns]) => [k, ns / fetchNs]));
    const share = (k) => ` (${pct(hotPath.shareOfFetch[k])})`;
    console.log(
      `SDK CPU per request, the interceptor alone (lowest of 5 trials; in brackets: share of one plain fetch's client CPU, ${fmt(fetchNs / 1000, 1)} µs, measured alongside):\n` +
        `  unmanaged ${us(hotPath.addedNs.unmanaged / 1000, 2)}${share('unmanaged')}; managed, cached ${us(hotPath.addedNs.managed / 1000, 2)}${share('managed')}; ` +
        `managed with request metrics ${us(hotPath.addedNs.managedMetrics / 1000, 2)}${share('managedMetrics')}`,
    );
    console.log(
      `control plane CPU per managed request in the load phases: ${fmt(summary.managed?.cpuUsPerRequest.cloud, 1)} µs ` +
        '(its cost per report of request metrics: bench/request-metrics.mjs)',
    );
  }
  if (footprint) {
    const r = footprint.register;
    console.log(
      `start to the application's first line (median of ${registerRuns}): empty process ${ms(r.plain.medianMs)}; with --import @tessera/sdk/register +${ms(r['register (current)'].addedMs)} ` +
        `(CPU +${ms(r['register (current)'].addedCpuMs)}), interception off +${ms(r['register, interception off (current)'].addedMs)}`,
    );
    console.log(`bundle of import { init } from '@tessera/sdk': ${fmt(footprint.bundle.bytes / 1024, 1)} KB (${footprint.bundle.largest.filter((p) => p.bytes > 0).slice(0, 4).map((p) => `${p.name} ${fmt(p.bytes / 1024, 1)} KB`).join(', ')})`);
    for (const [what, graph] of Object.entries(footprint.graph)) console.log(`import graph: ${describeGraph(what, graph)}`);
  }
  if (latencyMs > 0) {
    const one = (a, b) => perRound(a, b, 'serialRps', ratio);
    const text = [['managed/plain', 'managed', 'plain'], ['managed/nginx', 'managed', 'nginx'], ['unmanaged/plain', 'unmanaged', 'plain']]
      .map(([label, a, b]) => [label, one(a, b)])
      .filter(([, r]) => r)
      .map(([label, r]) => `${label} ${fmt(r.median, 3)}`);
    console.log(`throughput ratios at 1 in flight (median of per-round ratios): ${text.join(', ')}`);
  }
  console.log(`\ngoals (${concurrency} in flight for the ratios; MET/MISS when the median of per-round figures and the best rounds agree, else UNSURE):`);
  console.log('| goal | measured | verdict |');
  console.log('| --- | --- | --- |');
  for (const g of goals) console.log(`| ${g.name} | ${g.text} | ${g.verdict} |`);
  const failedChecks = checks.filter((c) => !c.ok);
  console.log(
    failedChecks.length === 0
      ? `header checks: all ${checks.length} phases OK (managed variants carried the credential${nginx ? ', nginx its static header' : ''}, the others none)`
      : `header checks: ${failedChecks.length} of ${checks.length} phases FAILED`,
  );
  for (const variant of active.filter((v) => v.sdk)) {
    const calls = summary[variant.name].cloudCallsUnderLoad;
    const posts = calls['/edge/v1/metrics'] ?? 0;
    const text = Object.entries(calls).map(([path, n]) => `${path} ×${n}`).join(', ') || 'none';
    console.log(
      `calls to the control plane during the ${variant.name} load phases: ${text}` +
        (posts ? ` (${fmt(summary[variant.name].requests / posts, 1)} requests per report)` : ''),
    );
  }
  console.log(
    `connections the target accepted over all phases (keep-alive: a few per phase at most): ${active.map((v) => `${v.name} ${summary[v.name].connectionsOpened}`).join(', ')}`,
  );
  const dropped = summary.managed?.droppedRequests ?? 0;
  if (dropped) console.log(`note: the managed variant's SDK left ${dropped} requests out of its request metrics`);
  if (machine.sdkBuildAfter !== sdkBuild) {
    console.log(`warning: packages/sdk/dist was rebuilt during the run (build ${sdkBuild} → ${machine.sdkBuildAfter}); the cold-start and memory processes may have loaded the newer build`);
  }
  console.log(`load average before ${machine.loadavgBefore.map((l) => l.toFixed(2)).join(' ')}, after ${machine.loadavgAfter.map((l) => l.toFixed(2)).join(' ')}; ${((performance.now() - started) / 1000).toFixed(0)} s in all`);

  // ---- shut the drivers down (profiles are written at exit), then summarise profiles -----------
  for (const { driver } of drivers.values()) await driver.stop();
  let profiles;
  if (profileDir) {
    profiles = {};
    for (const variant of active) {
      const files = readdirSync(profileDir).filter((f) => f === `${variant.name}.cpuprofile`);
      const loaded = files.map((f) => JSON.parse(readFileSync(join(profileDir, f), 'utf8')));
      const fromUs = results[variant.name].load[0]?.measuredFromUs;
      const self = topFrames(loaded, { top: 12, fromUs });
      const sdkSelf = topFrames(loaded, { top: 12, filter: 'packages/sdk/dist', fromUs });
      const sdkTotal = topFrames(loaded, { top: 12, filter: 'packages/sdk/dist', by: 'total', fromUs });
      const charged = attributable(loaded, { filter: 'packages/sdk/dist', passThrough: PASS_THROUGH, top: 12, fromUs });
      const undici = topFrames(loaded, { top: 0, filter: 'node_modules/undici/', fromUs });
      profiles[variant.name] = {
        file: join(profileDir, `${variant.name}.cpuprofile`),
        profileFromUs: fromUs,
        busyMs: self.totalMs,
        sdkSelfShare: sdkSelf.filteredSelfShare,
        sdkChargedShare: charged.share,
        npmUndiciSelfShare: undici.filteredSelfShare,
        self: self.rows,
        sdkCharged: charged.rows,
        sdkTotal: sdkTotal.rows,
      };
      console.log(
        `\nCPU profile of the ${variant.name} process (${join(profileDir, `${variant.name}.cpuprofile`)}; measured phases only, ${fmt(self.totalMs, 0)} ms busy)` +
          (variant.sdk ? `: the SDK's own code ${pct(charged.share)} of busy samples (with its callees, not what it hands on), npm undici ${pct(undici.filteredSelfShare)}` : ''),
      );
      console.log('  top frames by self time (all code, share of busy samples):');
      for (const row of self.rows.slice(0, variant.sdk ? 12 : 6)) console.log(`    ${pct(row.selfShare).padStart(6)}  ${row.frame}`);
      if (variant.sdk) {
        console.log("  the SDK's own frames, charged with the callees they run (not the dispatch or handler they hand on to):");
        for (const row of charged.rows) console.log(`    ${pct(row.share).padStart(6)}  ${row.frame}`);
      }
    }
  }

  if (values.json) {
    const strip = (phases) => phases.map(({ latenciesUs, ...rest }) => rest);
    const out = {
      benchmark: 'sdk-overhead',
      date: new Date().toISOString(),
      options: { durationSeconds: durationMs / 1000, rounds, concurrency, latencyDurationSeconds: latencyMs / 1000, coldRuns, memoryRequests, memoryRuns },
      machine,
      variants: summary,
      rounds: Object.fromEntries(Object.entries(results).map(([name, r]) => [name, { load: strip(r.load), serial: strip(r.serial) }])),
      ratios,
      addedP50Us,
      cpu,
      best,
      bestFigures,
      goals,
      footprint,
      cold: coldSummary && { ...coldSummary, sdkRuns: cold.sdk, staticRuns: cold.static },
      memory: memorySummary && { ...memorySummary, sdkRuns: memory.sdk, plainRuns: memory.plain },
      hotPath,
      headerChecks: checks,
      ...(profiles ? { profiles } : {}),
    };
    writeFileSync(values.json, `${JSON.stringify(out, null, 2)}\n`);
    console.log(`\nresults written to ${values.json}`);
  }
} finally {
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch (error) {
      console.error(`cleanup: ${error.message}`);
    }
  }
}

// ---- helpers ----------------------------------------------------------------------------------

/** A forked child with a message inbox: `next(type)` resolves with the next message of that type. */
function ipc(child) {
  const inbox = [];
  const waiting = [];
  let exit;
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve((exit = code ?? signal))));
  child.on('message', (message) => {
    const at = waiting.findIndex((w) => w.type === message.type);
    if (at >= 0) waiting.splice(at, 1)[0].resolve(message);
    else inbox.push(message);
  });
  exited.then(() => {
    for (const w of waiting.splice(0)) w.reject(new Error(`${child.spawnfile} exited (${exit}) while waiting for "${w.type}"`));
  });
  return {
    send: (message) => child.send(message),
    next(type) {
      const at = inbox.findIndex((m) => m.type === type);
      if (at >= 0) return Promise.resolve(inbox.splice(at, 1)[0]);
      if (exit !== undefined) return Promise.reject(new Error(`child exited (${exit}) before "${type}"`));
      return new Promise((resolve, reject) => waiting.push({ type, resolve, reject }));
    },
    async stop() {
      if (exit !== undefined) return;
      if (child.connected) child.send({ type: 'exit' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      if (!child.connected) child.kill('SIGTERM');
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Runs `node <args>` in a fresh process and parses the JSON line it prints. The SDK's dist is
 * wiped and rebuilt by `tsup` while colleagues work: a process that found it missing is retried.
 */
async function runNode(args, env) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await runNodeOnce(args, env);
    } catch (error) {
      if (attempt >= 4 || !/ERR_MODULE_NOT_FOUND|Cannot find (module|package)/.test(error.message)) throw error;
      console.log(`  (the SDK's dist is being rebuilt; retrying in 5 s)`);
      await new Promise((r) => setTimeout(r, 5_000));
    }
  }
}

function runNodeOnce(args, env) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let errors = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (errors += chunk));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`node ${args.join(' ')} exited with ${code}: ${output}${errors}`));
      if (errors.trim()) process.stderr.write(errors);
      try {
        resolvePromise(JSON.parse(output.trim().split('\n').at(-1)));
      } catch (error) {
        reject(error);
      }
    });
  });
}

/** The target saw what this variant must send, on the right port, at least once per request. */
function checkHeaders(variant, stats, completed) {
  const port = variant.port === 'managed' ? 'managed' : 'plain';
  const other = port === 'managed' ? 'plain' : 'managed';
  const seen = stats.seen[port];
  const matching = seen[variant.expect] ?? 0;
  const unexpected = Object.keys(seen).filter((k) => k !== variant.expect);
  const problems = [];
  if (matching < completed) problems.push(`${matching} of ${completed} requests arrived with ${expectText(variant)}`);
  if (unexpected.length) problems.push(`unexpected Authorization on ${port}: ${JSON.stringify(classify(Object.fromEntries(unexpected.map((k) => [k, seen[k]]))))}`);
  if (Object.keys(stats.seen[other]).length) problems.push(`requests reached the ${other} port: ${JSON.stringify(classify(stats.seen[other]))}`);
  if (stats.duplicates) problems.push(`${stats.duplicates} requests carried Authorization more than once`);
  return { ok: problems.length === 0, seen: classify(seen), duplicates: stats.duplicates, ...(problems.length ? { problem: problems.join('; ') } : {}) };
}

function expectText(variant) {
  return variant.expect === MANAGED_HEADER ? 'managed credential' : variant.expect === NGINX_HEADER ? 'nginx static header' : 'none';
}

/** Header values → what they are, so no credential is printed or written. */
function classify(seen) {
  const out = {};
  for (const [value, count] of Object.entries(seen)) {
    const kind = value === '(none)' ? 'none' : value === MANAGED_HEADER ? 'managed credential' : value === NGINX_HEADER ? 'nginx static header' : 'other';
    out[kind] = (out[kind] ?? 0) + count;
  }
  return out;
}

/** Judged on the median of per-round figures and on the best rounds; when they disagree, the run was too noisy to tell. */
/** A goal measured once per run (fresh processes, a bundle), not per round. */
function single(name, value, test, format, how) {
  if (value === undefined || value === null) return { name, value: null, met: null, verdict: 'n/a', text: 'not measured' };
  const met = test(value);
  return { name, value, met, verdict: met ? 'MET' : 'MISS', text: `${format(value)} (${how})` };
}

function goal(name, measured, bestValue, test, format) {
  if (!measured) return { name, value: null, best: null, met: null, verdict: 'n/a', text: 'not measured' };
  const met = test(measured.median);
  const bestMet = bestValue === null ? met : test(bestValue);
  const verdict = met && bestMet ? 'MET' : !met && !bestMet ? 'MISS' : 'UNSURE';
  return {
    name,
    value: measured.median,
    best: bestValue,
    met,
    bestMet,
    verdict,
    text: `median ${format(measured.median)} (rounds ${format(measured.min)} – ${format(measured.max)}); best rounds ${bestValue === null ? '–' : format(bestValue)}`,
  };
}

function cpuPerRequest(phases) {
  const requests = sum(phases.map((p) => p.requests));
  const part = (name) => sum(phases.map((p) => p.cpuUs[name])) / requests;
  const out = { client: part('client'), target: part('target'), nginx: part('nginx'), cloud: part('cloud') };
  return { ...out, total: out.client + out.target + out.nginx + out.cloud };
}

function sumCounts(list) {
  const out = {};
  for (const counts of list) for (const [key, n] of Object.entries(counts)) out[key] = (out[key] ?? 0) + n;
  return out;
}

function percentile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function merge(arrays) {
  const out = new Float64Array(sum(arrays.map((a) => a.length)));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out.sort();
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function sum(values) {
  return values.reduce((a, b) => a + b, 0);
}

function fmt(value, digits) {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function pct(value) {
  return `${(value * 100).toFixed(1)}%`;
}

function us(value, digits = 1) {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  return `${value >= 0 ? '+' : ''}${fmt(value, digits)} µs`;
}
