import { describe, expect, it } from 'vitest';
import { replaceFlatHeaderInPlace, replaceHeader } from './headers.js';

describe('replaceHeader', () => {
  it('removes every case variant and keeps other headers in order', () => {
    const out = replaceHeader({ a: '1', Authorization: 'x', b: ['2', '3'], AUTHORIZATION: 'y' }, 'authorization', 'v');
    expect(out).toEqual({ a: '1', b: ['2', '3'], authorization: 'v' });
    expect(Object.keys(out)).toEqual(['a', 'b', 'authorization']);
  });

  it('does not modify its input', () => {
    const object = { authorization: 'x' };
    const flat = ['authorization', 'x'];
    const headers = new Headers({ authorization: 'x' });
    const map = new Map([['authorization', 'x']]);
    replaceHeader(object, 'Authorization', 'v');
    replaceHeader(flat, 'Authorization', 'v');
    replaceHeader(headers, 'Authorization', 'v');
    replaceHeader(map, 'Authorization', 'v');
    expect(object).toEqual({ authorization: 'x' });
    expect(flat).toEqual(['authorization', 'x']);
    expect(headers.get('authorization')).toBe('x');
    expect(map.get('authorization')).toBe('x');
  });

  it('returns a non-array iterable for a generic iterable (undici reads arrays as the flat form)', () => {
    const out = replaceHeader(new Set([['accept', '*/*'] as const]), 'x-key', 'v');
    expect(Array.isArray(out)).toBe(false);
    expect([...out]).toEqual([['accept', '*/*'], ['x-key', 'v']]);
  });

  it('treats null like absent headers', () => {
    expect(replaceHeader(null, 'x-key', 'v')).toEqual({ 'x-key': 'v' });
  });
});

describe('replaceFlatHeaderInPlace', () => {
  it('edits the same array, removing every variant before adding one', () => {
    const headers = ['Authorization', 'a', 'accept', '*/*', 'authorization', 'b', 'host', 'x'];
    const out = replaceFlatHeaderInPlace(headers, 'authorization', 'v');
    expect(out).toBe(headers);
    expect(headers).toEqual(['accept', '*/*', 'host', 'x', 'authorization', 'v']);
  });
});
