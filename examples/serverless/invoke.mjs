// Stands in for a serverless runtime: loads the handler module once (one instance, one cold
// start) and invokes it twice, as a runtime does for two events, then ends the process at once,
// as a runtime freezes or recycles an instance: whatever was not sent by then is lost.
// Prints one JSON line per invocation, then how many times the instance attested (it listens
// on the SDK's `tessera:attest` diagnostics channel).
//
// Usage: node examples/serverless/invoke.mjs [handler module, default ./handler.mjs]
import { randomUUID } from 'node:crypto';
import { subscribe } from 'node:diagnostics_channel';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

let attestations = 0;
subscribe('tessera:attest', (message) => {
  if (!message.error) attestations += 1;
});

const module = process.argv[2] ? pathToFileURL(resolve(process.argv[2])) : new URL('./handler.mjs', import.meta.url);
const { handler } = await import(module);

for (const [index, symbol] of ['ACME', 'GLOBEX'].entries()) {
  const context = { awsRequestId: randomUUID(), functionName: 'quote-function' };
  const started = performance.now();
  const result = await handler({ symbol }, context);
  const ms = Math.round(performance.now() - started);
  process.stdout.write(`${JSON.stringify({ invocation: index + 1, requestId: context.awsRequestId, ms, result })}\n`);
}
process.stdout.write(`${JSON.stringify({ attestations })}\n`);
process.exit(0);
