/**
 * OpenID discovery, reduced to what a verifier needs: the `jwks_uri` of an issuer. The
 * document must name the configured issuer (so one issuer's document cannot point a
 * verifier at another's keys) and its `jwks_uri` must be https (or loopback, for tests).
 * Results are cached per issuer; concurrent look-ups share one request, and a failed one is
 * answered again without a request for `failureCacheMs`.
 */
import { checkFetchUrl } from '../../http/endpoint-url.js';
import { fetchBounded, KeySourceError, parseJsonObject } from '../../http/bounded-fetch.js';
import { FailureMemory } from './failure-memory.js';

export interface DiscoveryCacheOptions {
  maxAgeMs: number;
  maxBytes: number;
  timeoutMs: number;
  maxEntries: number;
  failureCacheMs: number;
  now: () => number;
}

interface CachedDiscovery {
  jwksUri: string;
  fetchedAt: number;
}

const WHAT = 'discovery document';

/** Fetches and checks one discovery document; returns its `jwks_uri`. */
export async function discoverJwksUri(issuer: string, documentUrl: string, fetchImpl: typeof fetch, options: DiscoveryCacheOptions): Promise<string> {
  const body = await fetchBounded(documentUrl, { accept: 'application/json' }, {
    fetch: fetchImpl,
    what: WHAT,
    maxBytes: options.maxBytes,
    signal: AbortSignal.timeout(options.timeoutMs),
  });
  const document = parseJsonObject(body, WHAT);
  if (document.issuer !== issuer) throw new KeySourceError(`${WHAT} "issuer" does not match the configured issuer`);
  const jwksUri = document.jwks_uri;
  if (typeof jwksUri !== 'string') throw new KeySourceError(`${WHAT} has no "jwks_uri"`);
  const issue = checkFetchUrl(jwksUri, `${WHAT} "jwks_uri"`);
  if (issue !== undefined) throw new KeySourceError(issue);
  return new URL(jwksUri).href;
}

export class DiscoveryCache {
  readonly #options: DiscoveryCacheOptions;
  readonly #entries = new Map<string, CachedDiscovery>();
  readonly #pending = new Map<string, Promise<string>>();
  readonly #failures: FailureMemory<string>;

  constructor(options: DiscoveryCacheOptions) {
    this.#options = options;
    this.#failures = new FailureMemory(options.failureCacheMs, options.now, options.maxEntries);
  }

  /** The issuer's `jwks_uri`, from the cache while fresh; a failure is remembered for `failureCacheMs`. */
  async jwksUri(issuer: string, documentUrl: string, fetchImpl: typeof fetch): Promise<string> {
    const cached = this.#entries.get(issuer);
    if (cached !== undefined && this.#options.now() - cached.fetchedAt < this.#options.maxAgeMs) return cached.jwksUri;
    let pending = this.#pending.get(issuer);
    if (pending === undefined) {
      pending = this.#failures
        .guard(() => discoverJwksUri(issuer, documentUrl, fetchImpl, this.#options), issuer)
        .then((jwksUri) => {
          this.#remember(issuer, { jwksUri, fetchedAt: this.#options.now() });
          return jwksUri;
        })
        .finally(() => this.#pending.delete(issuer));
      this.#pending.set(issuer, pending);
    }
    return pending;
  }

  #remember(issuer: string, entry: CachedDiscovery): void {
    this.#entries.delete(issuer);
    this.#entries.set(issuer, entry);
    // Issuers come from admin config; the bound only guards against unbounded growth.
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.#options.maxEntries) break;
      this.#entries.delete(oldest);
    }
  }
}
