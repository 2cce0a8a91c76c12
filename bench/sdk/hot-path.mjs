// The SDK's own per-request cost, without the network: the interceptor (`tessera.interceptor`,
// the same one init() composes onto the global dispatcher) in front of a stub dispatcher that
// answers every request at once, driven with the dispatch options and handler callbacks Node's
// fetch produces. The stub alone is the baseline; what the interceptor adds is the SDK's CPU per
// request. No network and no other process in the measured path, so it holds up on a busy
// machine better than a load test: each figure is the lowest of several trials.
//
// Input: TESSERA_BENCH_HOTPATH (JSON) { cloudUrl, managedOrigin, unmanagedOrigin, path, iterations,
//        eventIterations, trials }; TESSERA_BENCH_IDP. (The instance with request metrics on runs
//        `eventIterations` requests per trial, and sends one report at the end of each.)
// Output (stdout, JSON): { nsPerRequest: { stub, unmanaged, managed, managedMetrics, fetch }, addedNs,
//        reportsSent, ... } (`fetch`: one real plain fetch on loopback, client CPU, for scale)
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { benchCollector } from './collector.mjs';

const input = JSON.parse(process.env.TESSERA_BENCH_HOTPATH);
const { Tessera } = await import('@tessera/sdk');

// Two instances, nothing global: request metrics off (interception and injection alone), and on
// (as shipped: every managed request counted, one report per interval; here, one per trial).
const quiet = new Tessera({ cloudUrl: input.cloudUrl, collectors: [benchCollector()], metrics: false });
const reporting = new Tessera({ cloudUrl: input.cloudUrl, collectors: [benchCollector()], metrics: { flushIntervalMs: 0 } });
for (const tessera of [quiet, reporting]) await tessera.getCredential(`${input.managedOrigin}${input.path}`); // attest, cache

const controller = { abort() {}, pause() {}, resume() {}, paused: false, aborted: false, reason: null };
const responseHeaders = { 'content-type': 'application/json', 'content-length': '57' };
const chunk = Buffer.from('{"ok":true,"items":[{"id":1,"name":"alpha"},{"id":2,"name":"beta"}]}');
let placed = 0;

/** Answers at once, as undici would call the handler for a small response. */
function stub(opts, handler) {
  if (opts.headers?.authorization !== undefined) placed++;
  handler.onRequestStart?.(controller, {});
  handler.onResponseStart?.(controller, 200, responseHeaders, 'OK');
  handler.onResponseData?.(controller, chunk);
  handler.onResponseEnd?.(controller, {});
  return true;
}

const handler = {
  onRequestStart() {},
  onResponseStart() {},
  onResponseData() {},
  onResponseEnd() {},
  onResponseError(_controller, error) {
    throw error;
  },
};

/** The options Node's fetch hands its dispatcher for a plain GET (headers as an object). */
const options = (origin) => ({
  path: input.path,
  origin,
  method: 'GET',
  body: null,
  headers: { accept: '*/*', 'accept-language': '*', 'sec-fetch-mode': 'cors', 'user-agent': 'node', 'accept-encoding': 'gzip, deflate' },
  maxRedirections: 0,
  upgrade: undefined,
  allowH2: false,
});

const cases = {
  stub: { dispatch: stub, origin: input.unmanagedOrigin },
  unmanaged: { dispatch: quiet.interceptor(stub), origin: input.unmanagedOrigin },
  managed: { dispatch: quiet.interceptor(stub), origin: input.managedOrigin },
  managedMetrics: { dispatch: reporting.interceptor(stub), origin: input.managedOrigin, reports: reporting, iterations: input.eventIterations },
};

/**
 * CPU ns per request (process CPU time, so the report the SDK sends counts too). Every 500
 * requests it yields to the event loop; with request metrics on, the trial ends with a report.
 */
let reportsSent = 0;
async function trial({ dispatch, origin, reports, iterations }) {
  const cpu = process.cpuUsage();
  for (let done = 0; done < iterations; done += 500) {
    for (let i = 0; i < 500; i++) dispatch(options(origin), handler);
    await yieldToLoop();
  }
  if (reports) {
    await reports.flush();
    reportsSent += 1;
  }
  const used = process.cpuUsage(cpu);
  return ((used.user + used.system) * 1000) / iterations;
}

/** For scale: the client CPU of one real fetch (1 in flight, loopback, no SDK in the path). */
async function fetchTrial(requests) {
  const url = `${input.unmanagedOrigin}${input.path}`;
  const cpu = process.cpuUsage();
  for (let i = 0; i < requests; i++) await (await fetch(url)).arrayBuffer();
  const used = process.cpuUsage(cpu);
  return ((used.user + used.system) * 1000) / requests;
}

const best = Object.fromEntries(Object.keys(cases).map((name) => [name, Infinity]));
best.fetch = Infinity;
await fetchTrial(500);
for (const testCase of Object.values(cases)) testCase.iterations ??= input.iterations;
for (const testCase of Object.values(cases)) await trial({ ...testCase, iterations: Math.min(5_000, testCase.iterations) }); // warm up
placed = 0;
for (let t = 0; t < input.trials; t++) {
  for (const [name, testCase] of Object.entries(cases)) best[name] = Math.min(best[name], await trial(testCase));
  best.fetch = Math.min(best.fetch, await fetchTrial(2_000));
}
await reporting.flush();
const managedRuns = input.trials * (cases.managed.iterations + cases.managedMetrics.iterations);
const out = {
  iterations: input.iterations,
  trials: input.trials,
  nsPerRequest: best,
  addedNs: { unmanaged: best.unmanaged - best.stub, managed: best.managed - best.stub, managedMetrics: best.managedMetrics - best.stub },
  credentialPlaced: placed === managedRuns,
  reportsSent,
  droppedRequests: reporting.droppedRequests,
};
await quiet.close();
await reporting.close();
process.stdout.write(`${JSON.stringify(out)}\n`);
