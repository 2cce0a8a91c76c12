import { defineConfig, type Options } from 'tsup';

/** Shared build settings: every package ships ESM + .d.ts for Node 22+. */
export function packageConfig(entry: Options['entry'], overrides: Options = {}) {
  return defineConfig({
    entry,
    format: ['esm'],
    target: 'node22',
    platform: 'node',
    dts: true,
    sourcemap: true,
    clean: true,
    splitting: true,
    treeshake: true,
    // Keep `node:` specifiers: some built-ins (node:sqlite, node:test) exist only under that prefix.
    removeNodeProtocol: false,
    ...overrides,
  });
}
