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
  /** When it was last served, as a count of reads: the least recently used goes first when full. */
  used: number;
}

/**
 * Short-lived credentials per (client, server workload), refreshed ahead of expiry.
 *
 * Why not lru-cache: its `fetch()` knows one staleness threshold (`ttl`), while a credential has
 * two — "refresh from now on" and "never serve after" — and its `get()` reorders a list on every
 * hit, which is every managed request. Here a hit is two map reads (client workload, then server
 * workload; no key string is built), two number comparisons and one number written; eviction, the
 * rare case (more entries than `max`), looks for the least recently used entry when it happens.
 * In-flight fetches are kept apart, one promise per key.
 */
export class CredentialCache {
  /** Client workload id → server workload id → entry. */
  readonly #entries = new Map<string, Map<string, Entry>>();
  #size = 0;
  /** Reads so far: what `Entry.used` counts in. */
  #reads = 0;
  /** One promise per key: a miss and a background refresh share it. */
  readonly #inflight = new Map<string, Promise<IssuedCredential>>();
  readonly #max: number;
  readonly #skewMs: number;
  readonly #refreshAheadMs: number;
  readonly #retryMs: number;
  readonly #now: () => number;
  readonly #onRefreshError: ((error: unknown, key: CredentialKey) => void) | undefined;

  constructor(options: CredentialCacheOptions = {}) {
    this.#max = options.max ?? 1000;
    this.#skewMs = (options.skewSeconds ?? 60) * 1000;
    this.#refreshAheadMs = (options.refreshAheadSeconds ?? 30) * 1000;
    this.#retryMs = (options.refreshRetrySeconds ?? 5) * 1000;
    this.#now = options.now ?? Date.now;
    this.#onRefreshError = options.onRefreshError;
  }

  get size(): number {
    return this.#size;
  }

  /**
   * The cached credential while it is usable (refreshing it in the background once inside its
   * refresh window); otherwise one `fetcher` call shared by every concurrent caller. A failed
   * fetch is not cached: all its waiters get the same rejection.
   */
  get(key: CredentialKey, fetcher: CredentialFetcher): Promise<IssuedCredential> {
    const cached = this.#usable(key, fetcher);
    return cached === undefined ? this.#fetch(key, fetcher) : Promise.resolve(cached);
  }

  /**
   * Synchronous read for callers that cannot await (diagnostics_channel subscribers): the usable
   * credential or `undefined`. With a fetcher, an entry inside its refresh window is refreshed.
   */
  peek(key: CredentialKey, fetcher?: CredentialFetcher): IssuedCredential | undefined {
    return this.#usable(key, fetcher);
  }

  /**
   * Forget a credential the target refused (401). With `rejected`, only that credential is
   * dropped: a newer one fetched meanwhile by another request stays. An in-flight fetch is
   * detached so the next `get` asks the cloud anew; its own waiters still get its answer.
   */
  drop(key: CredentialKey, rejected?: IssuedCredential): boolean {
    const entry = this.#entry(key);
    if (rejected !== undefined && entry !== undefined && entry.value !== rejected) return false;
    this.#inflight.delete(inflightKey(key));
    return this.#delete(key);
  }

  /** Forget everything (a new attestation, shutdown). */
  clear(): void {
    this.#entries.clear();
    this.#size = 0;
    this.#inflight.clear();
  }

  #entry(key: CredentialKey): Entry | undefined {
    return this.#entries.get(key.clientWorkloadId)?.get(key.serverWorkloadId);
  }

  #delete(key: CredentialKey): boolean {
    const servers = this.#entries.get(key.clientWorkloadId);
    if (servers === undefined || !servers.delete(key.serverWorkloadId)) return false;
    this.#size -= 1;
    if (servers.size === 0) this.#entries.delete(key.clientWorkloadId);
    return true;
  }

  #usable(key: CredentialKey, fetcher: CredentialFetcher | undefined): IssuedCredential | undefined {
    const entry = this.#entry(key);
    if (entry === undefined) return undefined;
    const now = this.#now();
    if (now >= entry.usableUntil) {
      this.#delete(key);
      return undefined;
    }
    entry.used = ++this.#reads;
    if (now < entry.refreshAt) return entry.value;
    if (fetcher !== undefined && !this.#inflight.has(inflightKey(key))) this.#refresh(key, entry, fetcher);
    return entry.value;
  }

  #refresh(key: CredentialKey, entry: Entry, fetcher: CredentialFetcher): void {
    this.#fetch(key, fetcher).catch((error: unknown) => {
      // Keep serving the old credential until it expires; do not retry on every read meanwhile.
      if (this.#entry(key) === entry) entry.refreshAt = this.#now() + this.#retryMs;
      this.#onRefreshError?.(error, key);
    });
  }

  #fetch(key: CredentialKey, fetcher: CredentialFetcher): Promise<IssuedCredential> {
    const id = inflightKey(key);
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
          this.#store(key, value);
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

  #store(key: CredentialKey, value: IssuedCredential): void {
    const now = this.#now();
    const usableUntil = value.expiresAt - this.#skewMs;
    const lifetime = usableUntil - now;
    // Shorter-lived than the skew: hand it to the waiters that asked, but never serve it again.
    if (!(lifetime > 0)) return;
    // The last quarter or refreshAhead, whichever is larger, yet at most half the lifetime,
    // so a short-lived credential is not refreshed on every read.
    const window = Math.min(Math.max(lifetime / 4, this.#refreshAheadMs), lifetime / 2);
    let servers = this.#entries.get(key.clientWorkloadId);
    if (servers === undefined) this.#entries.set(key.clientWorkloadId, (servers = new Map()));
    if (!servers.has(key.serverWorkloadId)) {
      if (this.#size >= this.#max) this.#evictLeastRecentlyUsed();
      this.#size += 1;
    }
    servers.set(key.serverWorkloadId, { value, usableUntil, refreshAt: usableUntil - window, used: ++this.#reads });
  }

  #evictLeastRecentlyUsed(): void {
    let oldest: { client: string; server: string; used: number } | undefined;
    for (const [client, servers] of this.#entries) {
      for (const [server, entry] of servers) if (oldest === undefined || entry.used < oldest.used) oldest = { client, server, used: entry.used };
    }
    if (oldest !== undefined) this.#delete({ clientWorkloadId: oldest.client, serverWorkloadId: oldest.server });
  }
}

/** In-flight fetches are few (one per key while it is fetched): a string key is fine there. */
function inflightKey(key: CredentialKey): string {
  return `${key.clientWorkloadId}\n${key.serverWorkloadId}`;
}
