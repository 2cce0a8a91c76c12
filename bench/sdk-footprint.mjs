// What the SDK adds to a workload before it makes any request: the size of its bundle and the time
// `--import @tessera/sdk/register` adds to a process's start. Measured on the built packages of
// this checkout and, with --baseline, of another one (a build of an earlier version), side by
// side in one run:
//
//   bundle    esbuild bundles `import { init } from '@tessera/sdk'` (minified, platform node,
//             format esm), as an application bundling its code would; the bytes, and the largest
//             packages in them
//   register  the time from a process's start to its application's first line, for `node -e`
//             alone and with `--import @tessera/sdk/register` (a Kubernetes token mounted,
//             TESSERA_ATTEST=lazy so that no control plane is involved), in fresh processes run
//             interleaved (plain, register, plain, register ...) so that the machine's load hits
//             every variant alike; the median of the per-round differences to plain.
//             `register, interception off` (TESSERA_INTERCEPT=none) shows what loading the
//             interceptors costs. The process's CPU time to that line is given too: on a busy
//             machine it varies less than the wall clock.
//
//   graph     the modules a fresh process loads for `import('@tessera/sdk')` and for the register
//             hook (recorded through Node's module hooks), by package: what the SDK pulls in at
//             start, and whether any of it is the control plane's half (a verifier, TypeBox, jose,
//             a cloud SDK — test/import-graph.test.ts fails the suite on that)
//
//   npm run build && node bench/sdk-footprint.mjs [--runs 20] [--baseline <checkout>] [--json out.json]
//
// bench/sdk-overhead.mjs (npm run bench:sdk) imports measureBundle, measureImportGraph and
// measureRegisterStart for its goal table.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const CURRENT = fileURLToPath(new URL('..', import.meta.url));

/** The esbuild bundle of `import { init } from '@tessera/sdk'` in checkout `root`: its bytes and largest packages. */
export async function measureBundle(root = CURRENT) {
  const scratch = mkdtempSync(join(tmpdir(), 'tessera-footprint-'));
  try {
    return await bundle(root, scratch);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Packages only the control plane's half uses: the SDK must load none of them. */
const SERVER_SIDE_PACKAGES = /^(typebox|jose|openid-client|oauth4webapi|pkijs|asn1js|google-auth-library|gaxios|@aws-sdk\/.+|@smithy\/.+|@azure\/.+|@tessera\/cloud-server)$/;
const RECORDER = join(CURRENT, 'packages/sdk/test/support/record-modules.mjs');

/**
 * The modules a fresh process of checkout `root` loads for `import('@tessera/sdk')` and for
 * `--import @tessera/sdk/register` (lazy attestation, no control plane), counted by package
 * (`node:` for built-in modules), and the server-side packages among them.
 */
export function measureImportGraph(root = CURRENT) {
  const scratch = mkdtempSync(join(tmpdir(), 'tessera-footprint-'));
  try {
    const token = join(scratch, 'kubernetes-token');
    writeFileSync(token, 'header.payload.signature\n');
    const sdkUrl = pathToFileURL(join(root, 'packages/sdk/dist/index.js')).href;
    const registerUrl = pathToFileURL(join(root, 'packages/sdk/dist/register.js')).href;
    const env = { TESSERA_CLOUD_URL: 'http://127.0.0.1:9', TESSERA_ATTEST: 'lazy', TESSERA_KUBERNETES_TOKEN_FILE: token };
    return {
      import: modulesLoaded(scratch, ['-e', `await import(${JSON.stringify(sdkUrl)})`, '--input-type=module'], {}),
      register: modulesLoaded(scratch, ['--import', registerUrl, '-e', '0'], env),
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function modulesLoaded(scratch, args, env) {
  const record = join(scratch, `modules-${Math.random().toString(36).slice(2)}.txt`);
  const result = spawnSync(process.execPath, ['--import', pathToFileURL(RECORDER).href, ...args], {
    cwd: scratch,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: process.env.HOME ?? '/tmp', TESSERA_RECORD_MODULES: record, ...env },
  });
  if (result.status !== 0) throw new Error(`node ${args.join(' ')} exited with ${result.status}:\n${result.stderr}`);
  const byPackage = new Map();
  for (const url of readFileSync(record, 'utf8').split('\n')) {
    if (url === '' || url === pathToFileURL(RECORDER).href) continue;
    const name = url.startsWith('node:')
      ? 'node:'
      : (/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1] ?? /\/packages\/([^/]+)\//.exec(url)?.[1]?.replace(/^/, '@tessera/') ?? 'other');
    byPackage.set(name, (byPackage.get(name) ?? 0) + 1);
  }
  const packages = [...byPackage].sort((a, b) => b[1] - a[1]).map(([name, modules]) => ({ name, modules }));
  return {
    modules: packages.reduce((sum, p) => sum + p.modules, 0),
    packages,
    serverSide: packages.filter((p) => SERVER_SIDE_PACKAGES.test(p.name)).map((p) => p.name),
  };
}

/** Start to the application's first line, plain and with the register hook of each checkout (default: this one). */
export function measureRegisterStart({ runs = 20, checkouts = { current: CURRENT } } = {}) {
  const scratch = mkdtempSync(join(tmpdir(), 'tessera-footprint-'));
  try {
    return register(scratch, checkouts, runs);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function bundle(root, scratch) {
  const entry = join(scratch, 'entry.mjs');
  writeFileSync(entry, "import { init } from '@tessera/sdk';\nconsole.log(typeof init);\n");
  const result = await build({ entryPoints: [entry], bundle: true, minify: true, platform: 'node', format: 'esm', write: false, metafile: true, logLevel: 'silent', nodePaths: [join(root, 'node_modules')] });
  const [output] = Object.values(result.metafile.outputs);
  const byPackage = new Map();
  for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
    const name = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1] ?? /packages\/([^/]+)\//.exec(input)?.[1]?.replace(/^/, '@tessera/') ?? input;
    byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
  }
  const largest = [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([name, bytes]) => ({ name, bytes }));
  return { bytes: output.bytes, largest };
}

/** From the process's start to its application's first line: wall-clock and CPU (user + system) milliseconds. */
function firstLine(scratch, args, env) {
  const app = 'const cpu = process.cpuUsage(); process.stdout.write(JSON.stringify({ ms: performance.now(), cpuMs: (cpu.user + cpu.system) / 1000 }))';
  const result = spawnSync(process.execPath, [...args, '-e', app], {
    cwd: scratch,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: process.env.HOME ?? '/tmp', ...env },
  });
  if (result.status !== 0) throw new Error(`node ${args.join(' ')} exited with ${result.status}:\n${result.stderr}`);
  return JSON.parse(result.stdout);
}

/** One line: how many modules `import` or `register` loaded, by package, and any of the control plane's. */
export function describeGraph(what, graph) {
  const label = what === 'import' ? "import('@tessera/sdk')" : '--import @tessera/sdk/register';
  const packages = graph.packages.map((p) => `${p.name} ${p.modules}`).join(', ');
  const server = graph.serverSide.length === 0 ? 'none of the control plane' : `CONTROL PLANE'S: ${graph.serverSide.join(', ')}`;
  return `${label} loads ${graph.modules} modules (${packages}); ${server}`;
}

const median = (list) => {
  const sorted = [...list].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

function register(scratch, checkouts, runs) {
  const token = join(scratch, 'kubernetes-token');
  writeFileSync(token, 'header.payload.signature\n');
  const env = { TESSERA_CLOUD_URL: 'http://127.0.0.1:9', TESSERA_ATTEST: 'lazy', TESSERA_KUBERNETES_TOKEN_FILE: token };
  const variants = { plain: () => firstLine(scratch, [], {}) };
  for (const [name, root] of Object.entries(checkouts)) {
    // The checkout's register module by its path: the processes run in a scratch directory.
    const registerUrl = pathToFileURL(join(root, 'packages/sdk/dist/register.js')).href;
    variants[`register (${name})`] = () => firstLine(scratch, ['--import', registerUrl], env);
    variants[`register, interception off (${name})`] = () => firstLine(scratch, ['--import', registerUrl], { ...env, TESSERA_INTERCEPT: 'none' });
  }
  const samples = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
  for (const name of Object.keys(variants)) variants[name](); // warm the file cache
  for (let run = 0; run < runs; run += 1) for (const [name, measure] of Object.entries(variants)) samples[name].push(measure());
  const plain = samples.plain;
  const added = (list, key) => median(list.map((sample, index) => sample[key] - plain[index][key]));
  return Object.fromEntries(
    Object.entries(samples).map(([name, list]) => [
      name,
      { medianMs: median(list.map((s) => s.ms)), addedMs: added(list, 'ms'), medianCpuMs: median(list.map((s) => s.cpuMs)), addedCpuMs: added(list, 'cpuMs') },
    ]),
  );
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '20' },
      baseline: { type: 'string' },
      json: { type: 'string' },
    },
  });
  const checkouts = { current: CURRENT, ...(values.baseline ? { baseline: resolve(values.baseline) } : {}) };
  const runs = Number(values.runs);
  const kb = (bytes) => `${(bytes / 1024).toFixed(1)} KB`;
  const sizes = {};
  for (const [name, root] of Object.entries(checkouts)) {
    sizes[name] = await measureBundle(root);
    console.log(`${name} (${root}): bundle of import { init } from '@tessera/sdk' (esbuild, minified, node, esm): ${kb(sizes[name].bytes)}`);
    for (const { name: pkg, bytes } of sizes[name].largest) console.log(`  ${kb(bytes).padStart(10)}  ${pkg}`);
  }
  const graphs = {};
  for (const [name, root] of Object.entries(checkouts)) {
    graphs[name] = measureImportGraph(root);
    for (const [what, graph] of Object.entries(graphs[name])) console.log(`${name}: ${describeGraph(what, graph)}`);
  }
  const times = measureRegisterStart({ runs, checkouts });
  console.log(`start to the application's first line, median of ${runs} fresh processes each (interleaved); wall-clock, and the process's CPU time:`);
  const ms = (value) => `${value.toFixed(1).padStart(7)} ms`;
  for (const [name, t] of Object.entries(times)) {
    const added = name === 'plain' ? '' : ` (added ${t.addedMs.toFixed(1)})`;
    const addedCpu = name === 'plain' ? '' : ` (added ${t.addedCpuMs.toFixed(1)})`;
    console.log(`  ${name.padEnd(40)} wall ${ms(t.medianMs)}${added.padEnd(16)} CPU ${ms(t.medianCpuMs)}${addedCpu}`);
  }
  if (values.json) writeFileSync(values.json, `${JSON.stringify({ checkouts, bundle: sizes, graph: graphs, register: times }, null, 2)}\n`);
}
