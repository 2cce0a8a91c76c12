// Lets a plain Node process (cloud-fakes.mjs) load the providers' test fakes from their
// TypeScript sources, which Node's built-in type stripping cannot do on its own:
// - they import their siblings as `.js` (what tsc wants): a relative `.js` import that does not
//   exist, from a `.ts` file, is resolved to the `.ts` file next to it;
// - some use syntax that stripping refuses (constructor parameter properties): `.ts` files are
//   transformed, not only stripped.
// In-thread hooks of this process only; importing this module installs them.
import { readFileSync } from 'node:fs';
import { registerHooks, stripTypeScriptTypes } from 'node:module';
import { fileURLToPath } from 'node:url';

registerHooks({
  resolve(specifier, context, next) {
    try {
      return next(specifier, context);
    } catch (error) {
      if (/^\.\.?\//.test(specifier) && specifier.endsWith('.js') && context.parentURL?.endsWith('.ts') === true) {
        return next(`${specifier.slice(0, -3)}.ts`, context);
      }
      throw error;
    }
  },
  load(url, context, next) {
    if (!url.startsWith('file:') || !url.endsWith('.ts')) return next(url, context);
    const source = readFileSync(fileURLToPath(url), 'utf8');
    return { format: 'module', source: stripTypeScriptTypes(source, { mode: 'transform', sourceUrl: url }), shortCircuit: true };
  },
});
