// One cold start, in a fresh process. `sdk`: time from init() start through the first managed
// fetch's response (attestation + credential fetch + the request itself); import time apart.
// `static`: the same first request of a fresh process without the SDK, carrying the same
// Authorization header as a static secret (Node loads its fetch lazily in both), the baseline
// the SDK figure is read against.
//
// Input: argv[2] 'sdk' | 'static'; TESSERA_BENCH_COLD (JSON) { url, cloudUrl, header }; TESSERA_BENCH_IDP.
// Output (stdout, JSON): { importMs?, initMs?, firstFetchMs, totalMs, status }
import { performance } from 'node:perf_hooks';

const mode = process.argv[2];
const { url, cloudUrl, header } = JSON.parse(process.env.TESSERA_BENCH_COLD);
const out = {};

if (mode === 'sdk') {
  const { benchCollector } = await import('./collector.mjs');
  const collector = benchCollector();
  const importStarted = performance.now();
  const sdk = await import('@tessera/sdk');
  out.importMs = performance.now() - importStarted;
  const started = performance.now();
  await sdk.init({ cloudUrl, collectors: [collector] });
  const initDone = performance.now();
  const response = await fetch(url);
  await response.arrayBuffer();
  const done = performance.now();
  Object.assign(out, { initMs: initDone - started, firstFetchMs: done - initDone, totalMs: done - started, status: response.status });
  await sdk.shutdown();
} else {
  const started = performance.now();
  const response = await fetch(url, { headers: { authorization: header } });
  await response.arrayBuffer();
  const done = performance.now();
  Object.assign(out, { firstFetchMs: done - started, totalMs: done - started, status: response.status });
}
process.stdout.write(`${JSON.stringify(out)}\n`);
