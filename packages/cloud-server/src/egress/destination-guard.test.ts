import { describe, expect, it } from 'vitest';
import { DestinationGuard, DestinationRefusedError, providerDestinationGuard } from './destination-guard.js';

const guard = new DestinationGuard();

describe('DestinationGuard', () => {
  it.each([
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:10.0.0.1', 'private'],
    ['::127.0.0.1', 'loopback (IPv4 127.0.0.1 inside an IPv6 address)'],
    ['64:ff9b::a9fe:a9fe', 'link-local (IPv4 169.254.169.254 inside an IPv6 address)'],
    ['2002:a9fe:a9fe::1', 'link-local (IPv4 169.254.169.254 inside an IPv6 address)'],
    ['2002:c0a8:0101::', 'private (IPv4 192.168.1.1 inside an IPv6 address)'],
  ])('refuses %s (%s)', (address, why) => {
    expect(guard.refusal(address)).toBe(why);
  });

  it.each(['93.184.216.34', '8.8.8.8', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1'])(
    'lets public %s through',
    (address) => {
      expect(guard.refusal(address)).toBeUndefined();
    },
  );

  it('lets the operator allow addresses and ranges, IPv4 ones in their IPv6 forms too', () => {
    const allowing = new DestinationGuard({ allow: ['127.0.0.1', '10.20.0.0/16', 'fd00::/8'] });
    for (const address of ['127.0.0.1', '::ffff:127.0.0.1', '10.20.3.4', 'fd00::5']) expect(allowing.refusal(address), address).toBeUndefined();
    for (const address of ['127.0.0.2', '::1', '10.21.0.1', '169.254.169.254']) expect(allowing.refusal(address), address).toBeDefined();
    expect(() => new DestinationGuard({ allow: ['10.0.0.0/33'] })).toThrow(/prefix length/);
    expect(() => new DestinationGuard({ allow: ['intranet.example.com'] })).toThrow(/not an IP address/);
  });

  describe('URLs, as written', () => {
    // The WHATWG URL parser turns decimal, hex, octal and short IPv4 forms into dotted quads.
    it.each([
      ['https://169.254.169.254/latest/meta-data/', /link-local/],
      ['https://2852039166/latest/meta-data/', /link-local/],
      ['https://0xa9fea9fe/', /link-local/],
      ['https://0251.0376.0251.0376/', /link-local/],
      ['https://[::ffff:169.254.169.254]/', /link-local/],
      ['https://[fe80::1]/', /link-local/],
      ['http://127.0.0.1:8080/api/v1/admin-keys', /loopback/],
      ['http://2130706433:8080/api/v1/admin-keys', /loopback/],
      ['http://0x7f.1:8080/', /loopback/],
      ['http://127.1/', /loopback/],
      ['http://[::1]:8080/', /loopback/],
      ['http://[::ffff:7f00:1]/', /loopback/],
      ['http://localhost:8080/api/v1/admin-keys', /loopback/],
      ['http://LOCALHOST.:8080/', /loopback/],
      ['https://admin.localhost/', /loopback/],
      ['https://0/', /unspecified/],
      ['https://0.0.0.0/', /unspecified/],
      ['https://[::]/', /unspecified/],
      ['https://10.0.0.1/', /private/],
      ['https://192.168.0.10:8443/', /private/],
      ['https://[fd00::1]/', /private/],
      ['https://[64:ff9b::a9fe:a9fe]/', /link-local/],
      ['http://siem.example.com/ingest', /must use https/],
      ['http://10.0.0.1/', /must use https/],
      ['ftp://siem.example.com/', /must use https/],
    ])('refuses %s', (url, problem) => {
      expect(guard.checkUrl(new URL(url))).toMatch(problem);
    });

    it('accepts https to a name or a public address, and http only on an allowed loopback host', () => {
      for (const url of ['https://siem.example.com/in', 'https://93.184.216.34/in', 'https://[2606:4700::1]/in']) expect(guard.checkUrl(new URL(url)), url).toBeUndefined();
      const allowing = new DestinationGuard({ allow: ['127.0.0.1', '10.0.0.0/8'] });
      for (const url of ['http://127.0.0.1:9000/in', 'http://localhost:9000/in', 'https://10.1.2.3/in']) expect(allowing.checkUrl(new URL(url)), url).toBeUndefined();
      expect(allowing.checkUrl(new URL('http://127.0.0.2:9000/in'))).toMatch(/loopback/);
      expect(allowing.checkUrl(new URL('http://10.1.2.3/in'))).toMatch(/must use https/);
    });
  });

  describe('names, as resolved', () => {
    const resolving = (...addresses: string[]) =>
      new DestinationGuard({ resolve: async () => addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })) });

    it('refuses a name when any of its addresses is refused', async () => {
      await expect(resolving('10.0.0.5').addressesOf('siem.example.com')).rejects.toThrow(/siem.example.com resolves to a private address/);
      const mixed = resolving('93.184.216.34', '169.254.169.254').addressesOf('siem.example.com');
      await expect(mixed).rejects.toBeInstanceOf(DestinationRefusedError);
      await expect(mixed).rejects.toMatchObject({ code: 'destination_refused' });
      await expect(resolving().addressesOf('siem.example.com')).rejects.toThrow(/has no address/);
      expect(await resolving('93.184.216.34').addressesOf('siem.example.com')).toEqual([{ address: '93.184.216.34', family: 4 }]);
    });

    it('answers node:net lookups in both shapes, refusing through the callback', async () => {
      const lookup = (guard: DestinationGuard, options: { all?: boolean; family?: number }) =>
        new Promise((resolve) => guard.lookup('siem.example.com', options as never, (error, address, family) => resolve({ error, address, family })));
      const dual = resolving('93.184.216.34', '2606:4700::1');
      expect(await lookup(dual, {})).toEqual({ error: null, address: '93.184.216.34', family: 4 });
      expect(await lookup(dual, { family: 6 })).toEqual({ error: null, address: '2606:4700::1', family: 6 });
      expect(await lookup(dual, { all: true })).toEqual({
        error: null,
        address: [
          { address: '93.184.216.34', family: 4 },
          { address: '2606:4700::1', family: 6 },
        ],
        family: undefined,
      });
      const refused = (await lookup(resolving('127.0.0.1'), { all: true })) as { error: Error };
      expect(refused.error).toBeInstanceOf(DestinationRefusedError);
    });
  });
});

describe('providerDestinationGuard', () => {
  const providers = providerDestinationGuard();

  it('permits public and private addresses, where identity providers and token servers live', () => {
    for (const address of ['93.184.216.34', '10.1.2.3', '172.16.0.9', '192.168.1.1', '100.64.0.1', 'fd12::1', '2606:4700::1']) {
      expect(providers.refusal(address), address).toBeUndefined();
    }
  });

  it('refuses loopback, link-local (the metadata service) and the other special kinds, in every spelling', () => {
    const refused: Array<[string, RegExp]> = [
      ['127.0.0.1', /^loopback$/],
      ['127.8.9.10', /^loopback$/],
      ['::1', /^loopback$/],
      ['::ffff:127.0.0.1', /loopback/],
      ['169.254.169.254', /^link-local$/],
      ['fe80::1', /^link-local$/],
      ['::ffff:169.254.169.254', /link-local/],
      ['0.0.0.0', /^unspecified$/],
      ['224.0.0.1', /^multicast$/],
      ['240.0.0.1', /^reserved$/],
      // A private IPv6 wrapper does not launder a refused IPv4 inside it.
      ['64:ff9b::7f00:1', /loopback/],
    ];
    for (const [address, kind] of refused) expect(providers.refusal(address), address).toMatch(kind);
  });

  it('opens what the operator allow-lists, and says which option does it', async () => {
    expect(providerDestinationGuard(['127.0.0.1']).refusal('127.0.0.1')).toBeUndefined();
    expect(providerDestinationGuard(['127.0.0.1']).refusal('127.0.0.2')).toBe('loopback');
    expect(providerDestinationGuard(['169.254.169.254']).refusal('169.254.169.254')).toBeUndefined();
    expect(() => providerDestinationGuard(['idp.internal'])).toThrow(/--provider-egress-allow\[0\]: "idp.internal" is not an IP address/);
    const rebinding = providerDestinationGuard([], { resolve: async () => [{ address: '127.0.0.1', family: 4 }] });
    await expect(rebinding.addressesOf('idp.example.com')).rejects.toThrow('idp.example.com resolves to a loopback address, which providers may not reach');
    expect(providers.checkUrl(new URL('http://127.0.0.1:8500/v1/agent'))).toMatch(/--provider-egress-allow/);
  });

  it('refuses private addresses too when the operator says so, except those allow-listed', () => {
    const publicOnly = providerDestinationGuard(['10.20.0.0/16'], { privateNetworks: 'refuse' });
    expect(publicOnly.refusal('10.1.2.3')).toBe('private');
    expect(publicOnly.refusal('fd12::1')).toBe('private');
    expect(publicOnly.refusal('::ffff:192.168.1.1')).toMatch(/private/);
    expect(publicOnly.refusal('10.20.3.4')).toBeUndefined();
    expect(publicOnly.refusal('93.184.216.34')).toBeUndefined();
    expect(publicOnly.refusal('127.0.0.1')).toBe('loopback');
  });
});
