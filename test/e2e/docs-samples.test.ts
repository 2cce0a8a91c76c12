import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import * as sdk from '@tessera/sdk';

/**
 * Every JavaScript sample in docs/ must at least parse as the ES module a reader pastes it into,
 * and every name it imports from `@tessera/sdk` must exist. This holds too for the few samples
 * that docs-commands.test.ts cannot run (they need a cloud VM).
 */
const DOCS = fileURLToPath(new URL('../../docs/', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'tessera-doc-samples-'));

interface Sample {
  file: string;
  line: number;
  code: string;
}

function samples(): Sample[] {
  const found: Sample[] = [];
  for (const file of readdirSync(DOCS).filter((name) => name.endsWith('.md'))) {
    const lines = readFileSync(join(DOCS, file), 'utf8').split('\n');
    for (let i = 0; i < lines.length; i += 1) {
      const open = /^(\s*)```(js|javascript|mjs)\s*$/.exec(lines[i]!);
      if (!open) continue;
      const indent = open[1]!.length;
      const body: string[] = [];
      let j = i + 1;
      for (; j < lines.length && !/^\s*```\s*$/.test(lines[j]!); j += 1) body.push(lines[j]!.slice(indent));
      found.push({ file, line: i + 1, code: body.join('\n') });
      i = j;
    }
  }
  return found;
}

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('JavaScript samples in docs/', () => {
  const all = samples();

  it('there are samples to check', () => {
    expect(all.length).toBeGreaterThan(5);
  });

  it.each(all.map((s) => [`${s.file}:${s.line}`, s] as const))('%s parses and imports only what exists', (_name, sample) => {
    const path = join(scratch, `${sample.file.replace(/\W/g, '_')}_${sample.line}.mjs`);
    writeFileSync(path, sample.code);
    execFileSync(process.execPath, ['--check', path], { stdio: 'pipe' });
    for (const match of sample.code.matchAll(/import\s*\{([^}]+)\}\s*from\s*'@tessera\/sdk'/g)) {
      for (const name of match[1]!.split(',').map((n) => n.trim().split(/\s+as\s+/)[0]!).filter(Boolean)) {
        expect(Object.keys(sdk), `${sample.file}:${sample.line} imports ${name}`).toContain(name);
      }
    }
  });
});
