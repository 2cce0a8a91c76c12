import type { Injection } from '../inject/types.js';
import { normalizeHost, pathMatches, targetFromUrl, type Target } from './target.js';

/** One target this workload may call, as `POST /edge/v1/attest` lists it. */
export interface DirectoryEntry {
  serverWorkloadId: string;
  name: string;
  scheme: 'http' | 'https';
  /** Exact host, IP address, or one-label wildcard `*.example.com`. */
  host: string;
  port: number;
  pathPrefix: string;
  injection: Injection;
}

export interface DirectoryOptions {
  /**
   * Origins of the Tessera control plane (`https://tessera.example.com`). Requests to them are
   * never managed, even when an entry would match: the SDK must not inject into its own calls.
   */
  controlPlane?: string | URL | ReadonlyArray<string | URL>;
}

type Origin = Pick<Target, 'scheme' | 'host' | 'port'>;

/**
 * The attested directory, indexed for the per-request lookup. Mirrors the cloud's
 * `PolicyIndex.resolveServer`: exact host beats a one-label wildcard; within each, the longest
 * path prefix wins; scheme and port must match.
 *
 * Most requests an application makes are not managed, so the miss path is what must cost
 * nothing: the maps are keyed by host alone (no `host:port` string to build), port, scheme and
 * prefix are checked on the few candidates of that host, and the wildcard map is skipped
 * entirely when the directory has no wildcard. Immutable: a new attest builds a new Directory.
 */
export class Directory {
  /** host → entries, longest path prefix first. */
  readonly #exact = new Map<string, DirectoryEntry[]>();
  /** suffix after `*.` → entries, longest path prefix first. */
  readonly #wildcard = new Map<string, DirectoryEntry[]>();
  /** `scheme://host:port` of the control plane, and its hosts for a cheap first test. */
  readonly #controlPlane = new Set<string>();
  readonly #controlPlaneHosts = new Set<string>();
  readonly #entries: readonly DirectoryEntry[];

  constructor(entries: readonly DirectoryEntry[], options: DirectoryOptions = {}) {
    const controlPlane = options.controlPlane;
    const origins = controlPlane === undefined ? [] : Array.isArray(controlPlane) ? controlPlane : [controlPlane];
    for (const origin of origins as ReadonlyArray<string | URL>) {
      const target = targetFromUrl(origin);
      this.#controlPlane.add(originKey(target));
      this.#controlPlaneHosts.add(target.host);
    }

    const kept: DirectoryEntry[] = [];
    for (const raw of entries) {
      if (raw.scheme !== 'http' && raw.scheme !== 'https') continue; // the cloud serves no others
      const entry: DirectoryEntry = Object.freeze({ ...raw, host: normalizeHost(raw.host), pathPrefix: raw.pathPrefix || '/' });
      if (entry.host === '') continue;
      const wildcard = entry.host.startsWith('*.');
      // An exact entry naming the control plane can never apply; wildcards are checked on a hit.
      if (!wildcard && this.isControlPlane(entry)) continue;
      push(wildcard ? this.#wildcard : this.#exact, wildcard ? entry.host.slice(2) : entry.host, entry);
      kept.push(entry);
    }
    for (const list of [...this.#exact.values(), ...this.#wildcard.values()]) {
      list.sort((a, b) => b.pathPrefix.length - a.pathPrefix.length); // stable: ties keep directory order
    }
    this.#entries = Object.freeze(kept);
  }

  /** Every managed entry, in directory order. */
  get entries(): readonly DirectoryEntry[] {
    return this.#entries;
  }

  /** The entry managing this target, or `undefined` when the request must pass untouched. */
  lookup(target: Target): DirectoryEntry | undefined {
    const host = normalizeHost(target.host);
    const path = target.path || '/';
    const exact = this.#exact.get(host);
    if (exact !== undefined) {
      const found = pick(exact, target.scheme, target.port, path);
      if (found !== undefined) return found;
    }
    if (this.#wildcard.size === 0) return undefined;
    const dot = host.indexOf('.');
    if (dot <= 0) return undefined; // `.example.com` has no first label to stand for `*`
    const candidates = this.#wildcard.get(host.slice(dot + 1));
    if (candidates === undefined) return undefined;
    const found = pick(candidates, target.scheme, target.port, path);
    if (found !== undefined && this.#controlPlaneHosts.has(host) && this.isControlPlane({ ...target, host })) return undefined;
    return found;
  }

  /** The entries for this host, exact or wildcard, whatever their scheme, port and path prefix. */
  onHost(host: string): readonly DirectoryEntry[] {
    const normal = normalizeHost(host);
    const dot = normal.indexOf('.');
    const wildcard = dot > 0 ? this.#wildcard.get(normal.slice(dot + 1)) : undefined;
    return [...(this.#exact.get(normal) ?? []), ...(wildcard ?? [])];
  }

  /** Whether an origin (URL, origin string or target) is the Tessera control plane itself. */
  isControlPlane(origin: string | URL | Origin): boolean {
    if (this.#controlPlane.size === 0) return false;
    const target = typeof origin === 'string' || origin instanceof URL ? targetFromUrl(origin) : origin;
    const host = normalizeHost(target.host);
    return this.#controlPlaneHosts.has(host) && this.#controlPlane.has(originKey({ scheme: target.scheme, host, port: target.port }));
  }
}

function originKey(origin: Origin): string {
  return `${origin.scheme}://${origin.host}:${origin.port}`;
}

function pick(candidates: readonly DirectoryEntry[], scheme: string, port: number, path: string): DirectoryEntry | undefined {
  for (const entry of candidates) {
    if (entry.port === port && entry.scheme === scheme && pathMatches(entry.pathPrefix, path)) return entry;
  }
  return undefined;
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
