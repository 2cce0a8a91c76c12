import type { CloudLogger } from '../cloud/logger.js';
import { describeTarget } from '../runtime/diagnostics.js';
import type { Directory, DirectoryEntry } from './directory.js';
import { normalizeHost, type Target } from './target.js';

/** Origins remembered per directory; past it, one line says that further ones are not listed. */
export const UNMANAGED_ORIGINS_LIMIT = 1_000;
/** Targets listed by name and origin in the attestation's debug line; the rest are counted. */
export const LISTED_TARGETS_LIMIT = 100;

/**
 * At debug level, why a request leaves without a credential: its target is not in the directory
 * this workload attested with (a disabled policy, another port, scheme or path, a host name the
 * server workload does not use). Said once per origin (scheme, host, port) and directory — a new
 * attestation may bring another directory, and starts afresh — for at most `limit` origins, so
 * the memory it holds is bounded. The control plane's own origin is never managed, and not listed.
 */
export class UnmanagedOriginLog {
  readonly #logger: CloudLogger;
  readonly #limit: number;
  #directory: Directory | undefined;
  #seen = new Set<string>();
  #full = false;

  constructor(logger: CloudLogger, limit = UNMANAGED_ORIGINS_LIMIT) {
    this.#logger = logger;
    this.#limit = limit;
  }

  /**
   * A request that `directory.lookup()` left unmanaged. A `CONNECT` opens a tunnel through a
   * proxy: the requests inside it are looked up on their own, so it is not listed. Never throws.
   */
  note(directory: Directory, target: Target & { method?: string }): void {
    if (target.method === 'CONNECT') return;
    try {
      if (directory !== this.#directory) {
        this.#directory = directory;
        this.#seen = new Set();
        this.#full = false;
      }
      if (this.#full) return;
      const host = normalizeHost(target.host);
      const origin = describeTarget({ scheme: target.scheme, host, port: target.port }).slice(0, -1); // without the `/`
      if (this.#seen.has(origin)) return;
      if (this.#seen.size >= this.#limit) {
        this.#full = true;
        this.#logger.debug('tessera: further origins sent without a credential are not listed', { limit: this.#limit });
        return;
      }
      this.#seen.add(origin);
      if (directory.isControlPlane(target)) return;
      const sameHost = directory.onHost(target.host);
      this.#logger.debug('tessera: sent without a credential: not a target in the directory', {
        origin,
        path: describeTarget({ ...target, host }).slice(origin.length), // without the query
        reason: sameHost.length === 0 ? 'no target on this host' : 'targets on this host differ in scheme, port or path prefix',
        ...(sameHost.length > 0 ? { sameHost: sameHost.map(describeEntry) } : {}),
        targets: directory.entries.length,
      });
    } catch {
      // A debug line must never disturb the request it describes.
    }
  }
}

/** The fields of the debug line that lists a directory: names and origins, nothing secret. */
export function directoryLogFields(directory: Directory): Record<string, unknown> {
  const entries = directory.entries;
  return {
    targets: entries.length,
    listed: entries.slice(0, LISTED_TARGETS_LIMIT).map(describeEntry),
    ...(entries.length > LISTED_TARGETS_LIMIT ? { notListed: entries.length - LISTED_TARGETS_LIMIT } : {}),
  };
}

/** `name scheme://host:port/prefix` */
function describeEntry(entry: DirectoryEntry): string {
  return `${entry.name} ${describeTarget({ ...entry, path: entry.pathPrefix })}`;
}
