// Child of bench/request-metrics.mjs: one SDK build's cost of reporting what happened to managed
// requests (request metrics, or the edge events of builds before them). Managed requests go
// through `tessera.interceptor` in front of a stub dispatcher that answers at once, 200, 404 or
// 503 in turn; nothing goes over the network but the SDK's own calls to the control plane.
//
//   1. SDK: two instances, reporting off and on; each trial sends `iterations` requests, so the
//      reporting instance pays what it pays under steady traffic: request metrics report once at
//      the end of the trial; the edge events build sends its batch of 500 and waits for it every
//      500 requests (`batchEvery`), as its queue does (without the wait it drops events). CPU per
//      request, lowest of the trials.
//   2. Control plane: a fleet of `fleet` instances (each its own process as far as the control
//      plane can tell: its own key, its own edge token); in each of `cycles` cycles every
//      instance makes `perReport` requests and flushes, `concurrency` instances at a time. The
//      parent measures its own CPU (the control plane's) between the two `fleet` lines.
//
// Input: TESSERA_BENCH_REPORTS (JSON) { sdkModule, cloudUrl, origin, path, iterations, trials,
//        batchEvery, fleet, cycles, perReport, concurrency, quiet, reporting } (quiet/reporting: options);
//        TESSERA_BENCH_IDP.
// Output (stdout, JSON lines): {"phase":"fleet-start"}, {"phase":"fleet-end"}, then
//        { nsPerRequest: { quiet, reporting }, addedNs, fleet: { requests, flushes, posts }, dropped }.
import { pathToFileURL } from 'node:url';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { benchCollector } from './collector.mjs';

const input = JSON.parse(process.env.TESSERA_BENCH_REPORTS);
const { Tessera } = await import(pathToFileURL(input.sdkModule).href);
const create = async (options) => {
  const tessera = new Tessera({ cloudUrl: input.cloudUrl, collectors: [benchCollector()], ...options });
  await tessera.getCredential(`${input.origin}${input.path}`); // attest, cache
  return tessera;
};

const controller = { abort() {}, pause() {}, resume() {}, paused: false, aborted: false, reason: null };
const headers = { 'content-type': 'application/json', 'content-length': '11' };
const chunk = Buffer.from('{"ok":true}');
const statuses = [200, 404, 503];
let answered = 0;
function stub(_opts, handler) {
  handler.onRequestStart?.(controller, {});
  handler.onResponseStart?.(controller, statuses[answered++ % statuses.length], headers, 'OK');
  handler.onResponseData?.(controller, chunk);
  handler.onResponseEnd?.(controller, {});
  return true;
}
const handler = { onRequestStart() {}, onResponseStart() {}, onResponseData() {}, onResponseEnd() {}, onResponseError(_c, error) { throw error; } };
const options = () => ({ path: input.path, origin: input.origin, method: 'GET', body: null, headers: { accept: '*/*', 'user-agent': 'node' }, maxRedirections: 0 });
const send = (dispatch, count) => {
  for (let i = 0; i < count; i++) dispatch(options(), handler);
};
const line = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);

// 1. The SDK's CPU per request.
const quiet = await create(input.quiet);
const reporting = await create(input.reporting);
async function trial(tessera, batchEvery = false) {
  const dispatch = tessera.interceptor(stub);
  const cpu = process.cpuUsage();
  for (let done = 0; done < input.iterations; done += 500) {
    send(dispatch, 500);
    await (batchEvery ? tessera.flush() : yieldToLoop());
  }
  await tessera.flush();
  const used = process.cpuUsage(cpu);
  return ((used.user + used.system) * 1000) / input.iterations;
}
await trial(quiet); // warm up
await trial(reporting, input.batchEvery);
const best = { quiet: Infinity, reporting: Infinity };
for (let t = 0; t < input.trials; t++) {
  best.quiet = Math.min(best.quiet, await trial(quiet));
  best.reporting = Math.min(best.reporting, await trial(reporting, input.batchEvery));
}
const dropped = reporting.droppedRequests ?? reporting.droppedEvents ?? 0;
await quiet.close();
await reporting.close();

// 2. The control plane's CPU per report, from a fleet.
const fleet = [];
for (let i = 0; i < input.fleet; i++) fleet.push(await create(input.reporting));
const dispatches = fleet.map((tessera) => tessera.interceptor(stub));
line({ phase: 'fleet-start' });
let flushes = 0;
for (let cycle = 0; cycle < input.cycles; cycle++) {
  for (let first = 0; first < fleet.length; first += input.concurrency) {
    const group = fleet.slice(first, first + input.concurrency);
    await Promise.all(
      group.map((tessera, offset) => {
        send(dispatches[first + offset], input.perReport);
        flushes += 1;
        return tessera.flush();
      }),
    );
  }
}
line({ phase: 'fleet-end' });
const fleetDropped = fleet.reduce((sum, tessera) => sum + (tessera.droppedRequests ?? tessera.droppedEvents ?? 0), 0);
await Promise.all(fleet.map((tessera) => tessera.close()));
line({ nsPerRequest: best, addedNs: best.reporting - best.quiet, fleet: { requests: flushes * input.perReport, flushes }, dropped: dropped + fleetDropped });
