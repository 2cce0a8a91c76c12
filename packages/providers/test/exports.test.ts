/**
 * Every subpath in package.json `exports` must have a source entry and a tsup entry that
 * builds to the paths `exports` names, and vice versa (like jose's tools/check-subpaths.js).
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import tsupConfig from '../tsup.config.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const manifest = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as {
  exports: Record<string, string | { types: string; import: string }>;
  sideEffects: unknown;
};

const subpaths = Object.entries(manifest.exports).filter(([subpath]) => subpath !== './package.json');
/**
 * tsup entry name for a subpath: `.` → `index`, `./credential/api-key` → `credential/api-key/index`
 * (a folder's index), `./trust/kubernetes/collect` → `trust/kubernetes/collect` (a module).
 */
const entryName = (subpath: string) => {
  if (subpath === '.') return 'index';
  const path = subpath.slice(2);
  return existsSync(`${root}src/${path}/index.ts`) ? `${path}/index` : path;
};

function tsupEntries(): Record<string, string> {
  const config = (Array.isArray(tsupConfig) ? tsupConfig[0] : tsupConfig) as { entry?: unknown };
  if (typeof config.entry !== 'object' || config.entry === null || Array.isArray(config.entry)) {
    throw new Error('tsup entry must be an object of name → source');
  }
  return config.entry as Record<string, string>;
}

describe('package exports', () => {
  it('declares no side effects', () => {
    expect(manifest.sideEffects).toBe(false);
  });

  it.each(subpaths)('%s points at dist files named after its tsup entry', (subpath, target) => {
    const name = entryName(subpath);
    expect(target).toEqual({ types: `./dist/${name}.d.ts`, import: `./dist/${name}.js` });
  });

  it.each(subpaths)('%s has a source entry that tsup builds', (subpath) => {
    const name = entryName(subpath);
    const source = `src/${name}.ts`;
    expect(existsSync(`${root}${source}`), `${source} exists`).toBe(true);
    expect(tsupEntries()[name]).toBe(source);
  });

  it('builds no entry that is not exported', () => {
    const exported = new Set(subpaths.map(([subpath]) => entryName(subpath)));
    expect(Object.keys(tsupEntries()).filter((name) => !exported.has(name))).toEqual([]);
  });

  it.each(subpaths)('%s exports something', async (subpath) => {
    const module = (await import(`${root}src/${entryName(subpath)}.ts`)) as Record<string, unknown>;
    expect(Object.keys(module).length).toBeGreaterThan(0);
  });

  it('re-exports every provider subpath from the root', async () => {
    const rootModule = (await import(`${root}src/index.ts`)) as Record<string, unknown>;
    for (const [subpath] of subpaths.filter(([s]) => s !== '.')) {
      const module = (await import(`${root}src/${entryName(subpath)}.ts`)) as Record<string, unknown>;
      for (const [name, value] of Object.entries(module)) expect(rootModule[name], `${subpath} ${name}`).toBe(value);
    }
  });
});
