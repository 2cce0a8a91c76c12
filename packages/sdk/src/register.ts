/**
 * Zero-code entry: `node --import @tessera/sdk/register app.js` (or in `NODE_OPTIONS`).
 * Configured by the `TESSERA_*` environment variables (see docs/sdk.md); starts Tessera before
 * the application's first line runs, and sends the queued edge events when the process is about
 * to exit on its own.
 *
 * The Node.js version is checked first, with a module that imports nothing: the rest is loaded
 * only after it (imports are hoisted), since it would break on an older Node with an error that
 * says nothing of the version. There the process stops with one line, before the application.
 */
import { unsupportedNodeMessage } from './node-version.js';

const unsupported = unsupportedNodeMessage();
if (unsupported !== undefined) {
  process.stderr.write(`@tessera/sdk: ${unsupported}\n`);
  process.exit(1);
}

const { optionsFromEnv } = await import('./config/env.js');
const { init, shutdown } = await import('./init.js');

await init(optionsFromEnv(process.env));

let stopping = false;
process.on('beforeExit', () => {
  if (stopping) return;
  stopping = true;
  void shutdown();
});
