// A library using Tessera in explicit mode (nothing global patched), as docs/sdk.md shows it:
// `new Tessera()`, then `getCredential()` and `ready()` awaited at the top level of the module.
// Prints one JSON line per step; the test checks each one ends (settled), whatever the cloud does.
import { optionsFromEnv, Tessera } from '@tessera/sdk';

const print = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);
const tessera = new Tessera(optionsFromEnv());
for (const [step, run] of [
  ['getCredential', () => tessera.getCredential(process.env.APP_TARGET)],
  ['ready', () => tessera.ready()],
]) {
  try {
    await run();
    print({ step, ok: true });
  } catch (error) {
    print({ step, ok: false, name: error.name, code: error.code });
  }
}
await tessera.close();
