import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * Test fakes and helpers live in each package's `test/support/` (and the repository's `test/`),
 * never in `src/`: product code imports nothing outside its own `src/`, nothing from a test
 * framework, and no published file (the pack list, the bundles' source maps) comes from a test
 * folder or a test file. Run after the build (`npm test` builds first): it reads `dist/`.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PACKAGES = ['providers', 'sdk', 'cloud-server'];
const TEST_FRAMEWORKS = /^(vitest|@vitest\/|node:test$)/;
/** Names test support goes by, so a helper put back into src/ is found even before anyone imports it. */
const TEST_SUPPORT_NAME = /(^|\/)(testing|test-support|test\/support|fixtures?)(\/|\.|$)|(^|\/)(fake|test)-[^/]*$|\.test\.[cm]?[jt]s$|(^|\/)test\//;

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? walk(path) : [path];
  });
}

const isProduct = (path: string) => path.endsWith('.ts') && !path.endsWith('.test.ts');

/** What a product file under `src` may not import: the reasons, one per offending specifier. */
function forbiddenImports(file: string, source: string, src: string): string[] {
  const found: string[] = [];
  for (const { fileName: specifier } of ts.preProcessFile(source, true, true).importedFiles) {
    if (specifier.startsWith('.')) {
      const target = resolve(dirname(file), specifier);
      if (!target.startsWith(src + sep)) found.push(`${specifier}: outside ${relative(ROOT, src)}`);
    } else if (TEST_FRAMEWORKS.test(specifier)) {
      found.push(`${specifier}: a test framework`);
    }
  }
  return found;
}

describe('test support stays out of the published packages', () => {
  it('finds a product file that imports test support (the check itself)', () => {
    const src = join(ROOT, 'packages/sdk/src');
    const file = join(src, 'intercept/undici.ts');
    expect(forbiddenImports(file, "import { startFakeS3 } from '../../test/support/fake-s3.js';", src)).toEqual(['../../test/support/fake-s3.js: outside packages/sdk/src']);
    expect(forbiddenImports(file, "export { TEST_CERT } from '../../../../test/fixtures/tls/x.js';", src)).toHaveLength(1);
    expect(forbiddenImports(file, "const m = await import('../../test/support/world.js');", src)).toHaveLength(1);
    expect(forbiddenImports(file, "import { expect } from 'vitest';", src)).toEqual(['vitest: a test framework']);
    expect(forbiddenImports(file, "import { Agent } from 'undici';\nimport { inject } from '../inject/index.js';", src)).toEqual([]);
  });

  for (const name of PACKAGES) {
    describe(`@tessera/${name}`, () => {
      const dir = join(ROOT, 'packages', name);
      const src = join(dir, 'src');

      it('product code imports nothing outside its src/ and no test framework', () => {
        const found = walk(src)
          .filter(isProduct)
          .flatMap((file) => forbiddenImports(file, readFileSync(file, 'utf8'), src).map((reason) => `${relative(ROOT, file)} imports ${reason}`));
        expect(found).toEqual([]);
      });

      it('src/ holds no test support, only product code and tests beside it', () => {
        const named = walk(src)
          .map((file) => relative(src, file).split(sep).join('/'))
          .filter((path) => !path.endsWith('.test.ts') && TEST_SUPPORT_NAME.test(path));
        expect(named).toEqual([]);
      });

      it('no published file is test support or comes from it', () => {
        const [packed] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts', '--loglevel=error', '-w', `@tessera/${name}`], { cwd: ROOT, encoding: 'utf8' })) as [{ files: { path: string }[] }];
        const files = packed.files.map((file) => file.path);
        expect(files.some((path) => path.startsWith('dist/'))).toBe(true);
        expect(files.filter((path) => TEST_SUPPORT_NAME.test(path))).toEqual([]);

        // Every source a bundle was built from, as its source map lists it.
        const sources = files
          .filter((path) => path.endsWith('.js.map'))
          .flatMap((path) => {
            const map = JSON.parse(readFileSync(join(dir, path), 'utf8')) as { sources: string[] };
            return map.sources.map((source) => relative(dir, resolve(dir, dirname(path), source)).split(sep).join('/'));
          });
        expect(sources.length).toBeGreaterThan(0);
        expect(sources.filter((path) => !path.startsWith('src/') || TEST_SUPPORT_NAME.test(path.slice('src/'.length)))).toEqual([]);
      });
    });
  }
});
