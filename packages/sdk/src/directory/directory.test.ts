import { describe, expect, it } from 'vitest';
import { Directory, type DirectoryEntry } from './directory.js';
import { targetFromUrl } from './target.js';

const header = { kind: 'header', name: 'authorization', format: 'Bearer {token}' } as const;

function entry(id: string, host: string, extra: Partial<DirectoryEntry> = {}): DirectoryEntry {
  return { serverWorkloadId: id, name: id, scheme: 'https', host, port: 443, pathPrefix: '/', injection: header, ...extra };
}

// The same fixture as the cloud's edge API test (cloud-server/src/edge/edge-api.test.ts), plus more.
const directory = new Directory(
  [
    entry('api', 'api.example.com'),
    entry('api-v2', 'api.example.com', { pathPrefix: '/v2', injection: { kind: 'query', name: 'key' } }),
    entry('api-v2-admin', 'api.example.com', { pathPrefix: '/v2/admin/' }),
    entry('buckets', '*.storage.example.com'),
    entry('special-bucket', 'logs.storage.example.com', { pathPrefix: '/special' }),
    entry('plain-http', 'internal.example.com', { scheme: 'http', port: 8080 }),
    entry('ipv6', '::1', { scheme: 'http', port: 9000 }),
    entry('ipv6-long', '2001:db8:0:0:0:0:0:1'),
    entry('mixed-case', 'Billing.Example.COM'),
    entry('cloud-exact', 'tessera.example.com'),
    entry('wild-cloud', '*.example.net'),
  ],
  { controlPlane: ['https://tessera.example.com', 'https://edge.example.net/'] },
);

const id = (url: string) => directory.lookup(targetFromUrl(url))?.serverWorkloadId;

describe('Directory.lookup', () => {
  it.each([
    ['https://api.example.com/v1/charges', 'api'],
    ['https://API.example.com/v1/charges', 'api'], // host is case-insensitive
    ['https://api.example.com/v2/charges', 'api-v2'], // longest prefix wins
    ['https://api.example.com/v2', 'api-v2'],
    ['https://api.example.com/v2?page=1', 'api-v2'],
    ['https://api.example.com/v2#top', 'api-v2'],
    ['https://api.example.com/v20', 'api'], // /v2 does not match /v20
    ['https://api.example.com/v2/admin/users', 'api-v2-admin'],
    ['https://api.example.com/v2/admin', 'api-v2'], // prefix `/v2/admin/` needs its slash
    ['https://api.example.com', 'api'], // no path means `/`
    ['https://api.example.com:443/v1', 'api'], // explicit default port
    ['https://logs.storage.example.com/', 'buckets'], // one-label wildcard
    ['https://logs.storage.example.com/special/x', 'special-bucket'], // exact beats wildcard
    ['https://logs.storage.example.com/other', 'buckets'], // exact host without matching prefix falls back to wildcard
    ['https://a.logs.storage.example.com/', undefined], // wildcard covers one label only
    ['https://storage.example.com/', undefined], // nor the bare suffix
    ['http://api.example.com/v1', undefined], // other scheme
    ['https://api.example.com:8443/v1', undefined], // other port
    ['http://internal.example.com:8080/x', 'plain-http'],
    ['http://internal.example.com/x', undefined], // default port 80 is not 8080
    ['http://[::1]:9000/x', 'ipv6'],
    ['http://[0:0:0:0:0:0:0:1]:9000/x', 'ipv6'], // canonical form
    ['https://[2001:db8::1]/', 'ipv6-long'], // entry written long, URL canonical
    ['https://billing.example.com/', 'mixed-case'], // entry host lower-cased
    ['https://api.example.com./v1', 'api'], // trailing root dot
    ['https://unknown.example.org/', undefined],
    ['https://tessera.example.com/edge/v1/attest', undefined], // control plane never managed
    ['https://edge.example.net/edge/v1/credentials', undefined], // not even through a wildcard
    ['https://other.example.net/', 'wild-cloud'],
  ])('%s → %s', (url, expected) => {
    expect(id(url)).toBe(expected);
  });

  it('accepts targets built by hand: bracketed or bare IPv6, mixed-case host, empty path', () => {
    expect(directory.lookup({ scheme: 'http', host: '[::1]', port: 9000, path: '/' })?.serverWorkloadId).toBe('ipv6');
    expect(directory.lookup({ scheme: 'http', host: '::1', port: 9000, path: '/' })?.serverWorkloadId).toBe('ipv6');
    expect(directory.lookup({ scheme: 'https', host: 'API.EXAMPLE.COM', port: 443, path: '' })?.serverWorkloadId).toBe('api');
    expect(directory.lookup({ scheme: 'https', host: '', port: 443, path: '/' })).toBeUndefined();
    expect(directory.lookup({ scheme: 'https', host: '[::1', port: 443, path: '/' })).toBeUndefined();
    expect(directory.lookup({ scheme: 'https', host: '.storage.example.com', port: 443, path: '/' })).toBeUndefined();
  });

  it('drops entries for the control plane and entries with an unknown scheme', () => {
    const ids = directory.entries.map((e) => e.serverWorkloadId);
    expect(ids).not.toContain('cloud-exact');
    expect(ids).toContain('wild-cloud');
    const odd = new Directory([entry('ftp', 'files.example.com', { scheme: 'ftp' as 'https' })]);
    expect(odd.entries).toEqual([]);
  });

  it('returns the same frozen entry object on every hit', () => {
    const first = directory.lookup(targetFromUrl('https://api.example.com/v1'));
    expect(first).toBe(directory.lookup(targetFromUrl('https://api.example.com/v1')));
    expect(Object.isFrozen(first)).toBe(true);
  });

  it('skips the wildcard map when the directory has no wildcard', () => {
    const plain = new Directory([entry('a', 'a.example.com')]);
    expect(plain.lookup({ scheme: 'https', host: 'b.a.example.com', port: 443, path: '/' })).toBeUndefined();
    expect(plain.lookup({ scheme: 'https', host: 'a.example.com', port: 443, path: '/x' })?.serverWorkloadId).toBe('a');
  });

  it('an empty directory manages nothing', () => {
    expect(new Directory([]).lookup(targetFromUrl('https://api.example.com/'))).toBeUndefined();
  });
});

describe('Directory.isControlPlane', () => {
  it.each([
    ['https://tessera.example.com', true],
    ['https://TESSERA.example.com:443/edge/v1/attest', true],
    ['https://tessera.example.com:8443', false],
    ['http://tessera.example.com', false],
    ['https://edge.example.net', true],
    ['https://api.example.com', false],
  ])('%s → %s', (origin, expected) => {
    expect(directory.isControlPlane(origin)).toBe(expected);
    expect(directory.isControlPlane(new URL(origin))).toBe(expected);
  });

  it('takes a target too, and is false without a configured control plane', () => {
    expect(directory.isControlPlane({ scheme: 'https', host: 'Tessera.Example.com', port: 443 })).toBe(true);
    expect(new Directory([]).isControlPlane('https://tessera.example.com')).toBe(false);
  });
});
