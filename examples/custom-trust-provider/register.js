// Zero-code start for a workload on an enrolled machine:
//   node --import ./examples/custom-trust-provider/register.js app.mjs
// (once installed as a package: node --import @example/tessera-machine-certificate/register app.mjs)
//
// The SDK's own `@tessera/sdk/register` can only use the built-in collectors (TESSERA_COLLECTORS
// names them; there is no way to load one from a module), so this file does what it does, with
// the machine-certificate collector: options from the TESSERA_* variables, then `init()`.
import { init, optionsFromEnv, shutdown } from '@tessera/sdk';
import { machineCertificateCollector } from './collector.js';

await init({ ...optionsFromEnv(process.env), collectors: [machineCertificateCollector] });

let stopping = false;
process.on('beforeExit', () => {
  if (stopping) return;
  stopping = true;
  void shutdown(); // sends the last request metrics
});
