// A library using Tessera in explicit mode (nothing global patched), as docs/sdk.md shows it:
// `new Tessera()`, its methods awaited at the top level of the module, one after the other.
// APP_STEPS lists them (default `getCredential,ready,close`): getCredential and fetch (of
// APP_TARGET), ready, flush, close, and pause (3 s of the library's own work). Prints one JSON
// line per step; the test checks each one ends, whatever the cloud does.
import { optionsFromEnv, Tessera } from '@tessera/sdk';

const print = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);
const tessera = new Tessera(optionsFromEnv());
const steps = {
  getCredential: () => tessera.getCredential(process.env.APP_TARGET),
  fetch: async () => (await tessera.fetch(process.env.APP_TARGET)).text(),
  ready: () => tessera.ready(),
  flush: () => tessera.flush(),
  close: () => tessera.close(),
  pause: () => new Promise((resolve) => setTimeout(resolve, 3000)),
};
for (const step of (process.env.APP_STEPS ?? 'getCredential,ready,close').split(',')) {
  try {
    await steps[step]();
    print({ step, ok: true });
  } catch (error) {
    print({ step, ok: false, name: error.name, code: error.code });
  }
}
