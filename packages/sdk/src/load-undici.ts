import { createRequire } from 'node:module';
import type * as Undici from 'undici';
import { assertSupportedNode } from './errors.js';

let undici: typeof Undici | undefined;

/**
 * npm undici, loaded at its first use instead of at import: on a Node.js older than it supports
 * it throws as it loads, and `import '@tessera/sdk'` must still work there, so that `init()` can
 * say which Node.js is needed. On such a Node this throws that `unsupported_node` error.
 */
export function loadUndici(): typeof Undici {
  if (undici === undefined) {
    assertSupportedNode();
    undici = createRequire(import.meta.url)('undici') as typeof Undici;
  }
  return undici;
}
