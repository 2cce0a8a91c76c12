/**
 * Parsing of `source-ip` rules ("10.0.0.0/8", "192.0.2.7", "2001:db8::/32") into
 * `node:net` BlockLists. One pure step serves both the `validate` hook and `evaluate`.
 */
import { BlockList, isIP } from 'node:net';

export type AddressFamily = 'ipv4' | 'ipv6';

export interface AddressRule {
  address: string;
  family: AddressFamily;
  /** Absent for a single address. */
  prefix?: number;
}

/** Parses one entry; returns a rule or a message describing what is wrong with it. */
export function parseAddressRule(entry: unknown): AddressRule | string {
  if (typeof entry !== 'string') return 'is not a string';
  const quoted = JSON.stringify(entry.slice(0, 64));
  const parts = entry.split('/');
  const address = parts[0] ?? '';
  if (parts.length > 2 || address.includes('%')) return `${quoted} is not an IP address or CIDR range`;
  const version = isIP(address);
  if (version === 0) return `${quoted} is not an IP address or CIDR range`;
  const family: AddressFamily = version === 4 ? 'ipv4' : 'ipv6';
  const prefixText = parts[1];
  if (prefixText === undefined) return { address, family };
  const maxPrefix = version === 4 ? 32 : 128;
  const prefix = /^[0-9]{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
  if (!(prefix >= 0 && prefix <= maxPrefix)) {
    return `${quoted} has an invalid prefix length (0 to ${maxPrefix} for ${family === 'ipv4' ? 'IPv4' : 'IPv6'})`;
  }
  return { address, family, prefix };
}

export interface ParsedRuleList {
  blockList: BlockList;
  issues: string[];
}

/** Builds a BlockList from a list of entries; `issues` names each bad entry as `field[index]`. */
export function parseRuleList(field: string, entries: readonly unknown[]): ParsedRuleList {
  const blockList = new BlockList();
  const issues: string[] = [];
  entries.forEach((entry, index) => {
    const rule = parseAddressRule(entry);
    if (typeof rule === 'string') {
      issues.push(`${field}[${index}]: ${rule}`);
    } else if (rule.prefix === undefined) {
      blockList.addAddress(rule.address, rule.family);
    } else {
      blockList.addSubnet(rule.address, rule.prefix, rule.family);
    }
  });
  return { blockList, issues };
}

/**
 * Normalises a request's source address for matching: drops an IPv6 zone (`fe80::1%eth0`).
 * IPv4-mapped IPv6 (`::ffff:10.0.0.1`) needs nothing: BlockList matches it against IPv4
 * rules. Returns undefined when the value is not an IP address.
 */
export function normalizeSourceAddress(value: unknown): { address: string; family: AddressFamily } | undefined {
  if (typeof value !== 'string') return undefined;
  const address = value.includes('%') ? value.slice(0, value.indexOf('%')) : value;
  const version = isIP(address);
  if (version === 0) return undefined;
  return { address, family: version === 4 ? 'ipv4' : 'ipv6' };
}
