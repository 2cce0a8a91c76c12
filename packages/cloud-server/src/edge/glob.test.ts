import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileGlob, globProblem, MAX_GLOB_WILDCARDS } from './glob.js';

/**
 * The textbook dynamic-programming matcher over UTF-16 code units, as JavaScript strings are:
 * obviously right, and too slow (pattern × value) to be more than a reference.
 */
function referenceMatch(pattern: string, value: string): boolean {
  // matches[j]: does the pattern read so far match value.slice(0, j)?
  let matches = Array.from({ length: value.length + 1 }, (_, j) => j === 0);
  for (const unit of pattern.split('')) {
    const next = new Array<boolean>(value.length + 1).fill(false);
    for (let j = 0; j <= value.length; j++) {
      if (unit === '*') next[j] = matches[j]! || (j > 0 && next[j - 1]!);
      else next[j] = j > 0 && matches[j - 1]! && value[j - 1] === unit;
    }
    matches = next;
  }
  return matches[value.length]!;
}

describe('compileGlob', () => {
  it.each([
    ['app-pod-*', 'app-pod-7f9c', true],
    ['app-pod-*', 'app-pod-', true],
    ['app-pod-*', 'other-app-pod-1', false],
    ['payments', 'payments', true],
    ['payments', 'payments-2', false],
    ['repo:acme/*:ref:refs/heads/main', 'repo:acme/api:ref:refs/heads/main', true],
    ['repo:acme/*:ref:refs/heads/main', 'repo:acme/api:ref:refs/heads/dev', false],
    ['a.b', 'axb', false], // regex metacharacters are literal
    ['(x)+', '(x)+', true],
    ['*', '', true],
    ['*.*', 'line\nbreak.x', true],
    ['a**b', 'ab', true], // a run of stars is one star
    ['a***b', 'axxb', true],
    ['ab*ba', 'aba', false], // prefix and suffix may not overlap
    ['*ab*ab*', 'abab', true],
    ['*ab*ab*', 'aab', false],
    ['x*', 'x', true],
    ['*x', 'yx', true],
    ['*é*', 'café', true],
    ['*🙂', 'smile 🙂', true],
  ])('%s matches %j: %s', (pattern, value, expected) => {
    expect(compileGlob(pattern)(value)).toBe(expected);
    expect(referenceMatch(pattern, value)).toBe(expected);
  });

  it('matches a pathological glob in linear time (a backtracking RegExp took seconds for one)', () => {
    const evil = compileGlob('*a*a*a*a*a*a*a*a*b');
    // A generous budget: 10,000 evaluations take about a millisecond here. The loop stops at the
    // budget, so a slow matcher fails in about a second rather than hanging.
    const budgetMs = 1000;
    const started = performance.now();
    const subject = 'a'.repeat(30);
    let evaluations = 0;
    let matched = 0;
    while (evaluations < 10_000 && performance.now() - started < budgetMs) {
      if (evil(subject)) matched += 1;
      evaluations += 1;
    }
    expect(evaluations).toBe(10_000);
    expect(matched).toBe(0);
    // The 40-character subject, and the largest a JWT claim can be.
    expect(evil('a'.repeat(40))).toBe(false);
    expect(evil('a'.repeat(16 * 1024))).toBe(false);
    expect(evil(`${'a'.repeat(40)}b`)).toBe(true);
  });

  it('agrees with the reference matcher on random globs and values', () => {
    // Small alphabets make matches likely; unicode (surrogate pairs included) and `*` runs are in.
    const symbol = fc.constantFrom('a', 'b', '.', '\n', 'é', '🙂', '*');
    const text = fc.array(fc.constantFrom('a', 'b', '.', '\n', 'é', '🙂', '*'), { maxLength: 12 }).map((s) => s.join(''));
    const glob = fc.array(symbol, { maxLength: 10 }).map((s) => s.join(''));
    const derived = fc.tuple(glob, fc.array(fc.string({ unit: 'grapheme', maxLength: 3 }), { maxLength: 6 })).map(([pattern, fills]) => {
      // A value built from the glob, so that most pairs match and near-misses are common.
      let i = 0;
      return [pattern, pattern.replace(/\*+/g, () => fills[i++ % Math.max(1, fills.length)] ?? '')] as const;
    });
    fc.assert(
      fc.property(fc.oneof(fc.tuple(glob, text), derived), ([pattern, value]) => {
        expect(compileGlob(pattern)(value)).toBe(referenceMatch(pattern, value));
      }),
      { numRuns: 5000 },
    );
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 8 }), fc.string({ unit: 'grapheme', maxLength: 8 }), (pattern, value) => {
        expect(compileGlob(pattern)(value)).toBe(referenceMatch(pattern, value));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('globProblem', () => {
  it(`accepts up to ${MAX_GLOB_WILDCARDS} wildcards, a run of stars counting as one`, () => {
    expect(globProblem('payments')).toBeUndefined();
    expect(globProblem('*a'.repeat(MAX_GLOB_WILDCARDS))).toBeUndefined();
    expect(globProblem('a**b***c')).toBeUndefined();
    expect(globProblem('*a'.repeat(MAX_GLOB_WILDCARDS + 1))).toMatch(/at most 8/);
    expect(globProblem('*a*a*a*a*a*a*a*a*b')).toMatch(/at most 8/);
  });
});
