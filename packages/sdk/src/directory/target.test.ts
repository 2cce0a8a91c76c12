import { describe, expect, it } from 'vitest';
import { defaultPort, normalizeHost, pathMatches, targetFromUrl } from './target.js';

describe('targetFromUrl', () => {
  it('fills default ports from the scheme', () => {
    expect(targetFromUrl('https://api.example.com/v1')).toEqual({ scheme: 'https', host: 'api.example.com', port: 443, path: '/v1' });
    expect(targetFromUrl('http://api.example.com')).toEqual({ scheme: 'http', host: 'api.example.com', port: 80, path: '/' });
    expect(targetFromUrl(new URL('http://api.example.com:8080/x')).port).toBe(8080);
    expect(defaultPort('ftp')).toBe(0);
  });

  it('keeps the query, drops the fragment, strips IPv6 brackets', () => {
    expect(targetFromUrl('https://Api.Example.com/v1/x?a=1&b=2#frag').path).toBe('/v1/x?a=1&b=2');
    expect(targetFromUrl('http://[::1]:3000/').host).toBe('::1');
    expect(targetFromUrl('https://API.example.com./').host).toBe('api.example.com');
  });
});

describe('normalizeHost', () => {
  it.each([
    ['api.example.com', 'api.example.com'],
    ['API.Example.Com', 'api.example.com'],
    ['[::1]', '::1'],
    ['[0:0:0:0:0:0:0:1]', '::1'],
    ['2001:DB8::1', '2001:db8::1'],
    ['fe80::1%eth0', 'fe80::1%eth0'],
    ['[::1', ''],
    ['*.Example.com', '*.example.com'],
  ])('%s → %s', (host, expected) => {
    expect(normalizeHost(host)).toBe(expected);
  });

  it('returns the very same string when nothing changes (no allocation on the hot path)', () => {
    const host = 'api.example.com';
    expect(Object.is(normalizeHost(host), host)).toBe(true);
  });
});

describe('pathMatches (the cloud policy index rules)', () => {
  it.each([
    ['/', '/anything', true],
    ['/v1', '/v1', true],
    ['/v1', '/v1/x', true],
    ['/v1', '/v1?q=1', true],
    ['/v1', '/v1#f', true],
    ['/v1', '/v10', false],
    ['/v1', '/v', false],
    ['/v1/', '/v1/x', true],
    ['/v1/', '/v1', false],
    ['/V1', '/v1', false], // paths are case-sensitive
  ])('%s matches %s: %s', (prefix, path, expected) => {
    expect(pathMatches(prefix, path)).toBe(expected);
  });
});
