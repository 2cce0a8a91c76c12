import { LRUCache } from 'lru-cache';
import type { EdgeCredential, Injection } from '../inject/types.js';

/**
 * Cache key: the client and the server workload. The policy is not part of it because the SDK
 * learns which policy applies only from the first answer; the directory lookup already gives
 * the server workload, so every later request to it finds the entry without asking the cloud.
 * The policy id is stored with the entry (for audit events and diagnostics).
 */
export interface CredentialKey {
  clientWorkloadId: string;
  serverWorkloadId: string;
}

/** The answer of `POST /edge/v1/credentials`, with `expiresAt` parsed to epoch milliseconds. */
export interface IssuedCredential {
  credential: EdgeCredential;
  injection: Injection;
  expiresAt: number;
  serverWorkloadId: string;
  policyId: string;
}

export type CredentialFetcher = () => Promise<IssuedCredential>;

export interface CredentialCacheOptions {
  /** Entries kept, least recently used evicted first. Default 1000. */
  max?: number;
  /** A credential counts as expired this long before its real expiry. Default 60. */
  skewSeconds?: number;
  /** Refresh at least this long before the (skewed) expiry. Default 30. */
  refreshAheadSeconds?: number;
  /** After a failed background refresh, wait this long before the next. Default 5. */
  refreshRetrySeconds?: number;
  /** Epoch milliseconds; injectable for tests. */
  now?: () => number;
  /** A background refresh failed; the old entry keeps being served until it expires. */
  onRefreshError?: (error: unknown, key: CredentialKey) => void;
}

interface Entry {
  value: IssuedCredential;
  /** expiresAt − skew: never served at or after this instant. */
  usableUntil: number;
  /** From here on a read also starts a background refresh. */
  refreshAt: number;
}

/**
 * Short-lived credentials per (client, server workload), refreshed ahead of expiry.
 *
 * Why not lru-cache's own `fetch()`: it knows one staleness threshold (`ttl`), while a
 * credential has two — "refresh from now on" and "never serve after" — so a stale value would
 * still need a hand-written expiry check; `delete()` aborts the in-flight fetch, and rejection
 * handling is spread over four flags. A plain LRU (`max` only, no ttl) plus a map of in-flight
 * promises states each rule in one place and keeps the cached hit to one map read and two
 * number comparisons.
 */
export class CredentialCache {
  readonly #entries: LRUCache<string, Entry>;
  /** One promise per key: a miss and a background refresh share it. */
  readonly #inflight = new Map<string, Promise<IssuedCredential>>();
  readonly #skewMs: number;
  readonly #refreshAheadMs: number;
  readonly #retryMs: number;
  readonly #now: () => number;
  readonly #onRefreshError: ((error: unknown, key: CredentialKey) => void) | undefined;

  constructor(options: CredentialCacheOptions = {}) {
    this.#entries = new LRUCache({ max: options.max ?? 1000 });
    this.#skewMs = (options.skewSeconds ?? 60) * 1000;
    this.#refreshAheadMs = (options.refreshAheadSeconds ?? 30) * 1000;
    this.#retryMs = (options.refreshRetrySeconds ?? 5) * 1000;
    this.#now = options.now ?? Date.now;
    this.#onRefreshError = options.onRefreshError;
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * The cached credential while it is usable (refreshing it in the background once inside its
   * refresh window); otherwise one `fetcher` call shared by every concurrent caller. A failed
   * fetch is not cached: all its waiters get the same rejection.
   */
  get(key: CredentialKey, fetcher: CredentialFetcher): Promise<IssuedCredential> {
    const id = cacheKey(key);
    const cached = this.#usable(id, key, fetcher);
    return cached === undefined ? this.#fetch(id, fetcher) : Promise.resolve(cached);
  }

  /**
   * Synchronous read for callers that cannot await (diagnostics_channel subscribers): the usable
   * credential or `undefined`. With a fetcher, an entry inside its refresh window is refreshed.
   */
  peek(key: CredentialKey, fetcher?: CredentialFetcher): IssuedCredential | undefined {
    return this.#usable(cacheKey(key), key, fetcher);
  }

  /**
   * Forget a credential the target refused (401). With `rejected`, only that credential is
   * dropped: a newer one fetched meanwhile by another request stays. An in-flight fetch is
   * detached so the next `get` asks the cloud anew; its own waiters still get its answer.
   */
  drop(key: CredentialKey, rejected?: IssuedCredential): boolean {
    const id = cacheKey(key);
    const entry = this.#entries.peek(id);
    if (rejected !== undefined && entry !== undefined && entry.value !== rejected) return false;
    this.#inflight.delete(id);
    return this.#entries.delete(id);
  }

  /** Forget everything (a new attestation, shutdown). */
  clear(): void {
    this.#entries.clear();
    this.#inflight.clear();
  }

  #usable(id: string, key: CredentialKey, fetcher: CredentialFetcher | undefined): IssuedCredential | undefined {
    const entry = this.#entries.get(id);
    if (entry === undefined) return undefined;
    const now = this.#now();
    if (now < entry.refreshAt) return entry.value;
    if (now >= entry.usableUntil) {
      this.#entries.delete(id);
      return undefined;
    }
    if (fetcher !== undefined && !this.#inflight.has(id)) this.#refresh(id, key, entry, fetcher);
    return entry.value;
  }

  #refresh(id: string, key: CredentialKey, entry: Entry, fetcher: CredentialFetcher): void {
    this.#fetch(id, fetcher).catch((error: unknown) => {
      // Keep serving the old credential until it expires; do not retry on every read meanwhile.
      if (this.#entries.peek(id) === entry) entry.refreshAt = this.#now() + this.#retryMs;
      this.#onRefreshError?.(error, key);
    });
  }

  #fetch(id: string, fetcher: CredentialFetcher): Promise<IssuedCredential> {
    const running = this.#inflight.get(id);
    if (running !== undefined) return running;
    let started: Promise<IssuedCredential>;
    try {
      started = fetcher();
    } catch (error) {
      started = Promise.reject(error);
    }
    const flight: Promise<IssuedCredential> = started.then(
      (value) => {
        // A flight detached by drop() or clear() answers its waiters but is not stored.
        if (this.#inflight.get(id) === flight) {
          this.#inflight.delete(id);
          this.#store(id, value);
        }
        return value;
      },
      (error: unknown) => {
        if (this.#inflight.get(id) === flight) this.#inflight.delete(id);
        throw error;
      },
    );
    this.#inflight.set(id, flight);
    return flight;
  }

  #store(id: string, value: IssuedCredential): void {
    const now = this.#now();
    const usableUntil = value.expiresAt - this.#skewMs;
    const lifetime = usableUntil - now;
    // Shorter-lived than the skew: hand it to the waiters that asked, but never serve it again.
    if (!(lifetime > 0)) return;
    // The last quarter or refreshAhead, whichever is larger, yet at most half the lifetime,
    // so a short-lived credential is not refreshed on every read.
    const window = Math.min(Math.max(lifetime / 4, this.#refreshAheadMs), lifetime / 2);
    this.#entries.set(id, { value, usableUntil, refreshAt: usableUntil - window });
  }
}

function cacheKey(key: CredentialKey): string {
  return `${key.clientWorkloadId}\n${key.serverWorkloadId}`;
}
