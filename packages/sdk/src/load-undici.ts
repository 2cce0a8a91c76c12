import { createRequire } from 'node:module';
import type * as Undici from 'undici';
import { assertSupportedNode } from './errors.js';

let undici: typeof Undici | undefined;

/** Where Node's built-in fetch reads its dispatcher (npm undici ≥ 7.30 mirrors its own there). */
const BUILTIN_SLOT = Symbol.for('undici.globalDispatcher.1');
/** Where npm undici ≥ 7.30 keeps its global dispatcher: set once any copy of it has loaded. */
const NPM_SLOT = Symbol.for('undici.globalDispatcher.2');

/**
 * npm undici, loaded at its first use instead of at import: on a Node.js older than it supports
 * it throws as it loads, and `import '@tessera/sdk'` must still work there, so that `init()` can
 * say which Node.js is needed. On such a Node this throws that `unsupported_node` error.
 *
 * Loading npm undici installs its own `Agent` as the built-in fetch's dispatcher too (through a
 * `Dispatcher1Wrapper`). When the SDK is the first to load it — for its own calls to the control
 * plane, or `tessera.fetch` — that is not the application's doing: the built-in fetch's slot gets
 * back what it held (Node's own dispatcher, or nothing yet: Node then installs its own when its
 * first fetch loads its undici), so the built-in fetch goes straight through Node's dispatcher,
 * as it would without the SDK.
 */
export function loadUndici(): typeof Undici {
  if (undici === undefined) {
    assertSupportedNode();
    const slots = globalThis as unknown as Record<symbol, unknown>;
    const firstCopy = slots[NPM_SLOT] === undefined;
    const builtin = slots[BUILTIN_SLOT];
    undici = createRequire(import.meta.url)('undici') as typeof Undici;
    if (firstCopy && slots[BUILTIN_SLOT] !== builtin) {
      try {
        // The attributes undici gives the slot; through Object.defineProperty, so that Tessera's
        // dispatcher slots (when installed) see it as any other placement.
        Object.defineProperty(globalThis, BUILTIN_SLOT, { value: builtin, writable: true, enumerable: false, configurable: false });
      } catch {
        // A frozen global: undici keeps its fallback, the built-in fetch what it had.
      }
    }
  }
  return undici;
}
