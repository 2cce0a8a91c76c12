// The SDK's added memory: a fresh process makes `requests` requests (closed loop, `concurrency`
// in flight) to the managed target, with the SDK initialised (`sdk`) or without it (`plain`),
// then forces garbage collection and reads RSS and heap. Run with --expose-gc.
//
// Input: argv[2] 'sdk' | 'plain'; TESSERA_BENCH_MEMORY (JSON) { url, cloudUrl, requests, concurrency }.
// Output (stdout, JSON): process.memoryUsage() fields in bytes, plus status counts.
import { setTimeout as sleep } from 'node:timers/promises';

const mode = process.argv[2];
const { url, cloudUrl, requests, concurrency } = JSON.parse(process.env.TESSERA_BENCH_MEMORY);
if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc');

let sdk;
if (mode === 'sdk') {
  const { benchCollector } = await import('./collector.mjs');
  sdk = await import('@tessera/sdk');
  await sdk.init({ cloudUrl, collectors: [benchCollector()] });
}

let sent = 0;
const statuses = {};
const worker = async () => {
  while (sent < requests) {
    sent++;
    const response = await fetch(url);
    await response.arrayBuffer();
    statuses[response.status] = (statuses[response.status] ?? 0) + 1;
  }
};
await Promise.all(Array.from({ length: concurrency }, worker));
await sdk?.tessera()?.flush();

// Let sockets, timers and finalizers settle, then collect everything collectable.
for (let i = 0; i < 4; i++) {
  await sleep(50);
  globalThis.gc();
}
const usage = process.memoryUsage();
process.stdout.write(`${JSON.stringify({ ...usage, statuses, droppedRequests: sdk?.tessera()?.droppedRequests ?? 0 })}\n`);
await sdk?.shutdown();
process.exit(0);
