import { describe, expect, it } from 'vitest';
import { compileGlob } from './glob.js';

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
  ])('%s matches %j: %s', (pattern, value, expected) => {
    expect(compileGlob(pattern)(value)).toBe(expected);
  });
});
