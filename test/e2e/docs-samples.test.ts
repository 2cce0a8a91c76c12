import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as sdk from '@tessera/sdk';
import { blocksOf, docFiles, type DocBlock } from './support/doc-walks.js';

/**
 * Every JavaScript sample in docs/ must at least parse as the ES module a reader pastes it into,
 * and every name it imports from `@tessera/sdk` must exist. This holds too for the few samples
 * that docs-commands.test.ts cannot run (they need a cloud VM).
 */
const scratch = mkdtempSync(join(tmpdir(), 'tessera-doc-samples-'));

function samples(): DocBlock[] {
  return docFiles()
    .filter((file) => file.startsWith('docs/'))
    .flatMap(blocksOf)
    .filter((block) => ['js', 'javascript', 'mjs'].includes(block.lang));
}

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('JavaScript samples in docs/', () => {
  const all = samples();

  it('there are samples to check', () => {
    expect(all.length).toBeGreaterThan(5);
  });

  it.each(all.map((s) => [`${s.file}:${s.line}`, s] as const))('%s parses and imports only what exists', (_name, sample) => {
    const path = join(scratch, `${sample.file.replace(/\W/g, '_')}_${sample.line}.mjs`);
    writeFileSync(path, sample.text);
    execFileSync(process.execPath, ['--check', path], { stdio: 'pipe' });
    for (const match of sample.text.matchAll(/import\s*\{([^}]+)\}\s*from\s*'@tessera\/sdk'/g)) {
      for (const name of match[1]!.split(',').map((n) => n.trim().split(/\s+as\s+/)[0]!).filter(Boolean)) {
        expect(Object.keys(sdk), `${sample.file}:${sample.line} imports ${name}`).toContain(name);
      }
    }
  });
});
