import { isIPv6 } from 'node:net';

/** Where a request goes, as the directory and the edge API see it. */
export interface Target {
  /** `http` or `https`, without the colon. */
  scheme: string;
  /** Lower-case host name or IP address; IPv6 without brackets. */
  host: string;
  port: number;
  /** Path plus query as sent on the request line (`/v1/items?page=2`). */
  path: string;
}

const DEFAULT_PORTS: Readonly<Record<string, number>> = { http: 80, https: 443, ws: 80, wss: 443 };

/** The port a URL of this scheme uses when it names none; 0 for a scheme without one. */
export function defaultPort(scheme: string): number {
  return DEFAULT_PORTS[scheme] ?? 0;
}

/**
 * The target of a URL, with the default port filled in. `path` keeps the query (the request
 * line carries it, and a prefix `/v1` matches `/v1?q`) and drops the fragment (never sent).
 */
export function targetFromUrl(url: URL | string): Target {
  const parsed = typeof url === 'string' ? new URL(url) : url;
  const scheme = parsed.protocol.slice(0, -1);
  return {
    scheme,
    host: normalizeHost(parsed.hostname),
    port: parsed.port === '' ? defaultPort(scheme) : Number(parsed.port),
    path: `${parsed.pathname || '/'}${parsed.search}`,
  };
}

/**
 * The host as the cloud stores it: lower case, IPv6 without brackets in its canonical
 * (RFC 5952, WHATWG URL) form, no trailing root dot. Returns '' for a malformed bracket.
 * Fast when there is nothing to change: `toLowerCase()` returns the same string then, and only
 * hosts with `[`, `:` or a trailing dot take the slow branch.
 */
export function normalizeHost(host: string): string {
  let lower = host.toLowerCase();
  if (lower.charCodeAt(lower.length - 1) === 46 /* . */) lower = lower.slice(0, -1);
  if (lower.charCodeAt(0) === 91 /* [ */) {
    if (lower.charCodeAt(lower.length - 1) !== 93 /* ] */) return '';
    lower = lower.slice(1, -1);
  } else if (!lower.includes(':')) {
    return lower;
  }
  return canonicalIpv6(lower);
}

/** `0:0:0:0:0:0:0:1` and `::1` are one address; URL serialisation picks the canonical text. */
function canonicalIpv6(address: string): string {
  // Zone ids (`fe80::1%eth0`) pass isIPv6 but not the URL parser: keep them as written.
  if (!isIPv6(address) || address.includes('%')) return address;
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

/**
 * `/v1` matches `/v1`, `/v1/x` and `/v1?q`, not `/v10`. Copied from the cloud's policy index
 * (`pathMatches` in cloud-server/src/edge/policy-index.ts): the SDK must agree with it exactly.
 */
export function pathMatches(prefix: string, path: string): boolean {
  if (prefix === '/' || path === prefix) return true;
  if (!path.startsWith(prefix)) return false;
  if (prefix.endsWith('/')) return true;
  const next = path[prefix.length];
  return next === '/' || next === '?' || next === '#';
}
