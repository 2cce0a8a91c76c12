// Preloaded with `node --import` by import-graph.test.ts: records the URL of every module this
// process resolves (ES modules and require() alike, through Node's in-thread hooks) and writes
// them, one per line, to $TESSERA_RECORD_MODULES when the process exits.
import { writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const resolved = new Set();
registerHooks({
  resolve(specifier, context, next) {
    const result = next(specifier, context);
    resolved.add(result.url);
    return result;
  },
});
process.on('exit', () => writeFileSync(process.env.TESSERA_RECORD_MODULES, [...resolved].join('\n')));
