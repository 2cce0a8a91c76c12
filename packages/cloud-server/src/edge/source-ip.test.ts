import { describe, expect, it } from 'vitest';
import { SourceAddressResolver } from './source-ip.js';

describe('SourceAddressResolver', () => {
  it('ignores X-Forwarded-For when no proxy is trusted', () => {
    const resolver = new SourceAddressResolver();
    expect(resolver.resolve('203.0.113.9', '10.0.0.1')).toBe('203.0.113.9');
  });

  it('believes the header only hop by hop from trusted proxies', () => {
    const resolver = new SourceAddressResolver(['10.0.0.0/8', '2001:db8::1']);
    expect(resolver.resolve('10.1.1.1', '198.51.100.7')).toBe('198.51.100.7');
    // Two trusted hops: walk back to the first untrusted address.
    expect(resolver.resolve('10.1.1.1', '198.51.100.7, 10.2.2.2')).toBe('198.51.100.7');
    // A client-supplied value left of an untrusted hop is not believed.
    expect(resolver.resolve('10.1.1.1', '1.1.1.1, 198.51.100.7')).toBe('198.51.100.7');
    expect(resolver.resolve('2001:db8::1', '198.51.100.8')).toBe('198.51.100.8');
    expect(resolver.resolve('::ffff:10.1.1.1', ['198.51.100.9'])).toBe('198.51.100.9');
  });

  it('does not believe a header sent by an untrusted peer, or garbage in it', () => {
    const resolver = new SourceAddressResolver(['10.0.0.0/8']);
    expect(resolver.resolve('203.0.113.9', '10.0.0.1')).toBe('203.0.113.9');
    expect(resolver.resolve('10.1.1.1', 'not-an-ip')).toBe('10.1.1.1');
    expect(resolver.resolve('10.1.1.1', '')).toBe('10.1.1.1');
  });

  it('never takes an address longer than any real one (a zone id is free text)', () => {
    const resolver = new SourceAddressResolver(['10.0.0.0/8']);
    const long = `fe80::1%${'a'.repeat(15 * 1024)}`;
    expect(resolver.resolve('10.1.1.1', long)).toBe('10.1.1.1');
    expect(resolver.resolve('10.1.1.1', `${long}, 10.2.2.2`)).toBe('10.2.2.2');
    expect(resolver.resolve('10.1.1.1', 'fe80::1%eth0')).toBe('fe80::1%eth0');
  });

  it('refuses invalid trusted-proxy entries', () => {
    expect(() => new SourceAddressResolver(['10.0.0.0/33'])).toThrow(/prefix/);
    expect(() => new SourceAddressResolver(['proxy.internal'])).toThrow(/not an IP/);
  });
});
