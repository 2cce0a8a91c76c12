import { describe, expect, it } from 'vitest';
import { nestsDeeperThan } from './json-body.js';

describe('nestsDeeperThan', () => {
  it('counts arrays and objects, not brackets inside strings or escaped quotes', () => {
    expect(nestsDeeperThan('{"a":[{"b":[1]}]}', 4)).toBe(false);
    expect(nestsDeeperThan('{"a":[{"b":[1]}]}', 3)).toBe(true);
    expect(nestsDeeperThan('{"a":"[[[[[[{{{{"}', 1)).toBe(false);
    expect(nestsDeeperThan('{"a":"\\"[[[[","b":"\\\\"}', 1)).toBe(false);
    expect(nestsDeeperThan('[[],[],[[]]]', 2)).toBe(true);
    expect(nestsDeeperThan('[[],[],[]]', 2)).toBe(false);
  });

  it('scans a 1 MiB body quickly', () => {
    const body = JSON.stringify({ items: Array.from({ length: 20_000 }, (_, i) => ({ id: i, tags: ['a', 'b'], note: 'x'.repeat(20) })) });
    const started = performance.now();
    expect(nestsDeeperThan(body, 64)).toBe(false);
    expect(performance.now() - started).toBeLessThan(500);
  });
});
