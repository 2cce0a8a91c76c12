import { promises as dns, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { parseRuleList } from '@tessera/providers';

/**
 * Where the control plane may connect to on an editor's word. An editor chooses the URLs of log
 * streams and of providers (JWKS, discovery, token endpoints, STS), so by default they may not
 * reach the control plane's own loopback (its admin API, a sidecar's admin port), the cloud
 * metadata service (169.254.169.254), or anything else that is not a public address — except
 * the kinds a guard permits (providers: private networks, where identity providers live). The
 * operator may allow-list addresses or ranges (`--log-stream-allow`, `--provider-egress-allow`).
 * The rule is applied on writes, to what a URL itself says, and on every connection, to the
 * addresses DNS returned for it, so a name that later resolves elsewhere (DNS rebinding) is
 * refused when it matters.
 */

/** Address ranges refused unless allow-listed, by what they are (IANA special-purpose registries). */
const REFUSED_RANGES: ReadonlyArray<[AddressKind, readonly string[]]> = [
  ['unspecified', ['0.0.0.0/8', '::/128']],
  ['loopback', ['127.0.0.0/8', '::1/128']],
  ['private', ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7', 'fec0::/10']],
  ['link-local', ['169.254.0.0/16', 'fe80::/10']],
  ['multicast', ['224.0.0.0/4', 'ff00::/8']],
  ['reserved', ['240.0.0.0/4', '192.0.0.0/24', '198.18.0.0/15', '100::/64', '64:ff9b:1::/48']],
];

export type AddressKind = 'unspecified' | 'loopback' | 'private' | 'link-local' | 'multicast' | 'reserved';

const REFUSED: ReadonlyArray<[AddressKind, BlockList]> = REFUSED_RANGES.map(([label, ranges]) => [label, parseRuleList(label, ranges).blockList]);

/** Names that always mean this host (RFC 6761), whatever DNS says. */
function isLocalhostName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
}

export type Resolve = (hostname: string) => Promise<LookupAddress[]>;

export interface DestinationGuardOptions {
  /** Addresses or CIDR ranges that may be reached although they are loopback, private, ... */
  allow?: readonly string[];
  /** Kinds of address reachable without being allow-listed (default: none, public addresses only). */
  permit?: readonly AddressKind[];
  /** Whose destinations these are, for messages (default "log streams"). */
  subject?: string;
  /** The operator's option that allow-lists addresses, for messages (default "--log-stream-allow"). */
  allowOption?: string;
  /** Test seam: resolves a host name (default: the system resolver, as connections would). */
  resolve?: Resolve;
}

/** A destination the guard refuses. Its message names the host and the kind of address, nothing else. */
export class DestinationRefusedError extends Error {
  override name = 'DestinationRefusedError';
  readonly code = 'destination_refused';
}

export class DestinationGuard {
  readonly #allow: BlockList;
  readonly #permit: ReadonlySet<AddressKind>;
  readonly #subject: string;
  readonly #allowOption: string;
  readonly #resolve: Resolve;

  constructor(options: DestinationGuardOptions = {}) {
    this.#subject = options.subject ?? 'log streams';
    this.#allowOption = options.allowOption ?? '--log-stream-allow';
    const { blockList, issues } = parseRuleList(this.#allowOption, options.allow ?? []);
    if (issues.length > 0) throw new Error(issues.join('; '));
    this.#allow = blockList;
    this.#permit = new Set(options.permit ?? []);
    this.#resolve = options.resolve ?? ((hostname) => dns.lookup(hostname, { all: true, verbatim: true }));
  }

  /** Why `address` may not be reached ("link-local"), or undefined when it may. */
  refusal(address: string): string | undefined {
    const ip = address.split('%')[0]!;
    const family = isIP(ip);
    if (family === 0) return 'not an IP address';
    const embedded = family === 6 ? embeddedIpv4(ip) : undefined;
    if (this.#allowed(ip, family) || (embedded !== undefined && this.#allowed(embedded, 4))) return undefined;
    const own = this.#classify(ip, family);
    if (own) return own;
    const inner = embedded === undefined ? undefined : this.#classify(embedded, 4);
    return inner === undefined ? undefined : `${inner} (IPv4 ${embedded} inside an IPv6 address)`;
  }

  /** Write-time check of a stream URL: what it says without asking DNS. Returns a problem, or undefined. */
  checkUrl(url: URL): string | undefined {
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const loopback = isLocalhostName(host) || (isIP(host) !== 0 && classify(host, isIP(host)) === 'loopback');
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) return 'url must use https (http only on a loopback host)';
    if (isIP(host) !== 0) {
      const refused = this.refusal(host);
      return refused ? `url points to a ${refused} address; the server's operator can allow it with ${this.#allowOption}` : undefined;
    }
    if (isLocalhostName(host) && this.refusal('127.0.0.1') && this.refusal('::1')) {
      return `url points to a loopback address; the server's operator can allow it with ${this.#allowOption}`;
    }
    return undefined;
  }

  /**
   * Resolves `host` (an IP literal resolves to itself) and refuses it when any of its addresses
   * is refused: a name must not be able to pick the address by answering differently each time.
   */
  async addressesOf(host: string): Promise<LookupAddress[]> {
    const family = isIP(host);
    const addresses = family !== 0 ? [{ address: host, family }] : await this.#resolve(host);
    if (addresses.length === 0) throw new DestinationRefusedError(`${host} has no address`);
    for (const { address } of addresses) {
      const refused = this.refusal(address);
      if (refused) throw new DestinationRefusedError(`${host} resolves to a ${refused} address, which ${this.#subject} may not reach`);
    }
    return addresses;
  }

  /** For `http.request({ lookup })`: each new connection goes only to addresses checked just now. */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    this.addressesOf(hostname).then(
      (addresses) => {
        const wanted = options.family === 4 || options.family === 6 ? addresses.filter((a) => a.family === options.family) : addresses;
        if (wanted.length === 0) return callback(new DestinationRefusedError(`${hostname} has no IPv${options.family} address`), '', 0);
        if (options.all) return (callback as unknown as (error: null, addresses: LookupAddress[]) => void)(null, wanted);
        callback(null, wanted[0]!.address, wanted[0]!.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, '', 0),
    );
  };

  #allowed(address: string, family: number): boolean {
    return this.#allow.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }

  /** The refused kind `address` is of, unless this guard permits that kind. */
  #classify(address: string, family: number): AddressKind | undefined {
    const kind = classify(address, family);
    return kind === undefined || this.#permit.has(kind) ? undefined : kind;
  }
}

function classify(address: string, family: number): AddressKind | undefined {
  const type = family === 4 ? 'ipv4' : 'ipv6';
  return REFUSED.find(([, ranges]) => ranges.check(address, type))?.[0];
}

/**
 * The IPv4 address an IPv6 address carries, in the forms that reach it: IPv4-mapped
 * (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`) and 6to4 (`2002::/16`).
 */
function embeddedIpv4(address: string): string | undefined {
  const g = ipv6Groups(address);
  const v4 = (high: number, low: number) => `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zeros(0, 5) && g[5] === 0xffff) return v4(g[6]!, g[7]!);
  if (zeros(0, 6) && (g[6] !== 0 || g[7]! > 1)) return v4(g[6]!, g[7]!);
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) return v4(g[6]!, g[7]!);
  if (g[0] === 0x2002) return v4(g[1]!, g[2]!);
  return undefined;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a trailing dotted quad folded in). */
function ipv6Groups(address: string): number[] {
  let text = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const before = head === '' ? [] : head.split(':');
  const after = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : Array<string>(8 - before.length - after.length).fill('0');
  return [...before, ...fill, ...after].map((group) => parseInt(group, 16));
}

/**
 * Where provider calls may go: public addresses, private ones too unless `privateNetworks` is
 * 'refuse', and loopback, link-local and the rest only when allow-listed.
 */
export function providerDestinationGuard(allow: readonly string[] = [], options: { privateNetworks?: 'allow' | 'refuse'; resolve?: Resolve } = {}): DestinationGuard {
  return new DestinationGuard({
    allow,
    permit: options.privateNetworks === 'refuse' ? [] : ['private'],
    subject: 'providers',
    allowOption: '--provider-egress-allow',
    ...(options.resolve ? { resolve: options.resolve } : {}),
  });
}
