// One variant of the SDK overhead benchmark, in its own process so that globals (the global
// undici dispatcher, diagnostics_channel subscribers) never mix between variants. Drives the
// target with Node's built-in `fetch`, a closed loop of `concurrency` requests in flight.
//
// Input: TESSERA_BENCH_DRIVER (JSON) { variant, url, sdk: false | { cloudUrl, options, init }, chain?,
//        concurrency, warmupMs }; TESSERA_BENCH_IDP (the identity provider key, SDK variants).
//        `chain` (diagnostics, no SDK): a do-nothing interceptor composed onto the global dispatcher
//        the way init() composes Tessera's — 'npm-wrapper': through npm undici's
//        setGlobalDispatcher (which hands the built-in fetch a Dispatcher1Wrapper), 'in-place':
//        onto the built-in dispatcher in its own slot, no wrapper.
// IPC:   → { type: 'ready', setup }   ← { type: 'phase', durationMs, concurrency }
//        → { type: 'result', requests, errors, elapsedMs, cpuUs, latenciesUs: Float64Array, ... }
//        ← { type: 'exit' }   (a --cpu-prof profile is written as the process exits)
import { performance } from 'node:perf_hooks';

const input = JSON.parse(process.env.TESSERA_BENCH_DRIVER);
const { url } = input;

let sdk;
const setup = { variant: input.variant };
if (input.chain) {
  new Headers(); // loads Node's fetch internals first, as importing the SDK does (they fill both slots)
  const passThrough = (dispatch) => (opts, handler) => dispatch(opts, handler);
  const legacySlot = Symbol.for('undici.globalDispatcher.1');
  if (input.chain === 'npm-wrapper') {
    const undici = await import('undici');
    undici.setGlobalDispatcher(undici.getGlobalDispatcher().compose(passThrough));
  } else {
    const composed = globalThis[legacySlot].compose(passThrough);
    Object.defineProperty(globalThis, legacySlot, { value: composed, writable: true, enumerable: false, configurable: false });
  }
}
if (input.sdk) {
  const { benchCollector } = await import('./collector.mjs');
  const collector = benchCollector();
  const started = performance.now();
  sdk = await import('@tessera/sdk');
  setup.importMs = performance.now() - started;
  if (input.sdk.init !== false) {
    const initStarted = performance.now();
    const tessera = await sdk.init({ cloudUrl: input.sdk.cloudUrl, collectors: [collector], ...input.sdk.options });
    setup.initMs = performance.now() - initStarted;
    const ready = await tessera.ready();
    setup.clientWorkload = ready.clientWorkload.name;
    setup.targets = ready.targets.map((t) => `${t.scheme}://${t.host}:${t.port}${t.pathPrefix}`);
  }
}

// What the built-in fetch dispatches through (its slot), for the report.
setup.fetchDispatcher = globalThis[Symbol.for('undici.globalDispatcher.1')]?.constructor?.name ?? '(default)';

// The SDK reaches the control plane through node:http: count its calls per path, so the report
// can say how often reports went out (the target itself is only ever called with fetch).
const cloudCalls = {};
if (input.sdk) {
  const diagnostics = await import('node:diagnostics_channel');
  diagnostics.subscribe('http.client.request.created', ({ request }) => {
    const path = request.path.split('?')[0];
    cloudCalls[path] = (cloudCalls[path] ?? 0) + 1;
  });
}

// The first request: for the managed variant this fetches and caches the credential.
{
  const response = await fetch(url);
  await response.arrayBuffer();
  setup.firstStatus = response.status;
}

let latencies = new Float64Array(1 << 18);
/** When the first measured phase began: profile samples before it are start-up and warm-up. */
let measuredFromUs;

/** A closed loop: `concurrency` workers, each sending its next request when the last one ends. */
async function phase(durationMs, concurrency, record) {
  let stop = false;
  let count = 0;
  let errors = 0;
  let firstError;
  const worker = async () => {
    while (!stop) {
      const started = performance.now();
      try {
        const response = await fetch(url);
        await response.arrayBuffer();
        if (response.status !== 200) {
          errors++;
          firstError ??= `status ${response.status}`;
          continue;
        }
        if (record) {
          if (count === latencies.length) {
            const grown = new Float64Array(latencies.length * 2);
            grown.set(latencies);
            latencies = grown;
          }
          latencies[count] = (performance.now() - started) * 1000;
        }
        count++;
      } catch (error) {
        errors++;
        firstError ??= `${error?.name}: ${error?.message}${error?.cause ? ` (${error.cause.code ?? error.cause.message})` : ''}`;
      }
    }
  };
  const started = performance.now();
  const timer = setTimeout(() => (stop = true), durationMs);
  await Promise.all(Array.from({ length: concurrency }, worker));
  clearTimeout(timer);
  const elapsedMs = performance.now() - started;
  return { requests: count, errors, firstError, elapsedMs };
}

// Warm up the JIT and the connection pool before the first measured phase.
await phase(input.warmupMs, input.concurrency, false);
await phase(Math.min(500, input.warmupMs / 2), 1, false);
await sdk?.tessera()?.flush();

process.on('message', async (message) => {
  if (message.type === 'phase') {
    measuredFromUs ??= Number(process.hrtime.bigint() / 1000n); // the CPU profile's clock
    for (const path of Object.keys(cloudCalls)) delete cloudCalls[path];
    const cpu = process.cpuUsage();
    const result = await phase(message.durationMs, message.concurrency, true);
    // The phase's request metrics are reported now, outside the timed window (and not during the
    // next variant's phase), but inside the CPU account.
    const tessera = sdk?.tessera();
    await tessera?.flush();
    const used = process.cpuUsage(cpu);
    process.send({
      type: 'result',
      ...result,
      cpuUs: used.user + used.system,
      cloudCalls: { ...cloudCalls },
      measuredFromUs,
      latenciesUs: latencies.slice(0, result.requests),
      droppedRequests: tessera?.droppedRequests ?? 0,
    });
  } else if (message.type === 'exit') {
    await sdk?.shutdown();
    process.exit(0);
  }
});
process.send({ type: 'ready', setup });
