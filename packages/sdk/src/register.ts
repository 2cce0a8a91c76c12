/**
 * Zero-code entry: `node --import @tessera/sdk/register app.js` (or in `NODE_OPTIONS`).
 * Configured by the `TESSERA_*` environment variables (see docs/sdk.md); starts Tessera before
 * the application's first line runs, and sends the queued edge events when the process is about
 * to exit on its own.
 */
import { optionsFromEnv } from './config/env.js';
import { init, shutdown } from './init.js';

await init(optionsFromEnv(process.env));

let stopping = false;
process.on('beforeExit', () => {
  if (stopping) return;
  stopping = true;
  void shutdown();
});
