/**
 * The credential providers' token cache (oauth2-client-credentials, aws-sts, the GCP and Azure
 * federations). Access tokens are cached per (endpoint, client, scope, audience, resource,
 * secret digest), shared by every caller until most of their lifetime has passed, in a bounded LRU.
 * Concurrent misses for one key share one token request; a failed request is not cached.
 *
 * Keys never hold the secret: its HMAC under a random per-instance key stands in for it,
 * so a rotated secret gets a fresh token and a dumped key reveals nothing to brute-force.
 */
import { createHmac, randomBytes } from 'node:crypto';

/** Refresh when less than this share of the lifetime remains ... */
export const REFRESH_REMAINING_FRACTION = 0.25;
/** ... or less than this. */
export const REFRESH_REMAINING_MS = 60_000;
/** Lifetime assumed for a token sent without `expires_in`. */
export const DEFAULT_TOKEN_LIFETIME_MS = 5 * 60_000;

export interface CachedToken {
  token: string;
  expiresAtMs: number;
  lifetimeMs: number;
}

export interface TokenCacheKeyParts {
  endpoint: string;
  clientId: string;
  authMethod: string;
  signingAlg: string | undefined;
  scope: string | undefined;
  audience: string | undefined;
  resources: readonly string[];
  secret: string;
}

export function isFresh(entry: CachedToken, nowMs: number): boolean {
  const remainingMs = entry.expiresAtMs - nowMs;
  return remainingMs >= REFRESH_REMAINING_MS && remainingMs >= entry.lifetimeMs * REFRESH_REMAINING_FRACTION;
}

export class TokenCache {
  private readonly entries = new Map<string, CachedToken>();
  private readonly inFlight = new Map<string, Promise<CachedToken>>();
  private readonly digestKey = randomBytes(32);

  constructor(readonly maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('maxEntries must be a positive whole number');
  }

  get size(): number {
    return this.entries.size;
  }

  key(parts: TokenCacheKeyParts): string {
    const { secret, ...rest } = parts;
    const digest = createHmac('sha256', this.digestKey).update(secret).digest('base64url');
    return JSON.stringify([rest.endpoint, rest.clientId, rest.authMethod, rest.signingAlg ?? null, rest.scope ?? null, rest.audience ?? null, rest.resources, digest]);
  }

  /** A fresh cached token, or undefined (a stale one is dropped). */
  get(key: string, nowMs: number): CachedToken | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    if (!isFresh(entry, nowMs)) return undefined;
    this.entries.set(key, entry); // re-inserted: Map order is the recency order
    return entry;
  }

  /** The cached token, or the result of the one request shared by all concurrent misses. */
  getOrFetch(key: string, now: () => number, fetchToken: () => Promise<CachedToken>): Promise<CachedToken> {
    const cached = this.get(key, now());
    if (cached !== undefined) return Promise.resolve(cached);
    const pending = this.inFlight.get(key);
    if (pending !== undefined) return pending;

    const request = fetchToken()
      .then((token) => {
        if (isFresh(token, now())) this.store(key, token);
        return token;
      })
      .finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, request);
    return request;
  }

  clear(): void {
    this.entries.clear();
  }

  private store(key: string, token: CachedToken): void {
    this.entries.delete(key);
    this.entries.set(key, token);
    // Evict least recently used entries; the Map iterates oldest first.
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries) break;
      this.entries.delete(oldest);
    }
  }
}
