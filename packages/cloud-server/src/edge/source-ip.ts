import { BlockList, isIP } from 'node:net';

/**
 * The address a request came from. `X-Forwarded-For` is believed only hop by hop from the right,
 * and only while the hop that added it is a configured trusted proxy: a client cannot spoof its
 * address by sending the header itself.
 */
export class SourceAddressResolver {
  readonly #trusted: BlockList | undefined;

  constructor(trustedProxies: readonly string[] = []) {
    if (trustedProxies.length === 0) return;
    this.#trusted = new BlockList();
    for (const entry of trustedProxies) {
      const [address, prefix] = entry.split('/');
      const family = isIP(address ?? '');
      if (family === 0) throw new Error(`trusted proxy "${entry}" is not an IP address or CIDR`);
      const type = family === 4 ? 'ipv4' : 'ipv6';
      if (prefix === undefined) this.#trusted.addAddress(address!, type);
      else {
        const bits = Number(prefix);
        if (!Number.isInteger(bits) || bits < 0 || bits > (family === 4 ? 32 : 128)) {
          throw new Error(`trusted proxy "${entry}" has an invalid prefix length`);
        }
        this.#trusted.addSubnet(address!, bits, type);
      }
    }
  }

  resolve(remoteAddress: string | undefined, forwardedFor: string | string[] | undefined): string {
    let address = normalize(remoteAddress ?? '');
    if (!this.#trusted || forwardedFor === undefined) return address;
    const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor)
      .split(',')
      .map((hop) => normalize(hop.trim()))
      .filter((hop) => hop !== '');
    while (hops.length > 0 && this.#isTrusted(address)) {
      const previous = hops.pop()!;
      // Garbage in the header: stop at the last hop we trust. An IPv6 zone id is free text, so
      // the length is checked too: this value goes into audit events.
      if (previous.length > MAX_ADDRESS_LENGTH || isIP(previous) === 0) break;
      address = previous;
    }
    return address;
  }

  #isTrusted(address: string): boolean {
    const family = isIP(address);
    return family !== 0 && this.#trusted!.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }
}

/** The longest IPv6 text (45 characters) with a zone id as long as an interface name. */
const MAX_ADDRESS_LENGTH = 64;

/** `::ffff:10.0.0.1` is the IPv4 address 10.0.0.1. */
function normalize(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address;
}
