/**
 * How often one SDK process (one proof key) may report: a token bucket of `burst` reports that
 * refills at `perSecond`. An SDK reports once per interval, and at most once per invocation
 * when serverless; a process that reports faster is told to wait (429, `Retry-After`), and its
 * SDK keeps the report for later.
 *
 * Bounded: a bucket that has refilled completely is the same as no bucket, so such buckets are
 * dropped when room is needed; when every one of `maxSessions` buckets is still in use, a new
 * process is refused rather than an old one forgotten (which would reset its limit).
 */
export class SessionRate {
  readonly #burst: number;
  readonly #perSecond: number;
  readonly #maxSessions: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(options: { burst?: number; perSecond?: number; maxSessions?: number; now?: () => number } = {}) {
    this.#burst = options.burst ?? 10;
    this.#perSecond = options.perSecond ?? 1;
    this.#maxSessions = options.maxSessions ?? 100_000;
    this.#now = options.now ?? Date.now;
  }

  /** Takes one report's token; otherwise the seconds to wait before the next one. */
  take(session: string): { allowed: true } | { allowed: false; retryAfterSeconds: number } {
    const now = this.#now();
    let bucket = this.#buckets.get(session);
    if (bucket === undefined) {
      if (this.#buckets.size >= this.#maxSessions && this.#sweep(now) === 0) return { allowed: false, retryAfterSeconds: this.#refillSeconds() };
      bucket = { tokens: this.#burst, at: now };
      this.#buckets.set(session, bucket);
    }
    bucket.tokens = Math.min(this.#burst, bucket.tokens + ((now - bucket.at) / 1000) * this.#perSecond);
    bucket.at = now;
    if (bucket.tokens < 1) return { allowed: false, retryAfterSeconds: Math.ceil((1 - bucket.tokens) / this.#perSecond) };
    bucket.tokens -= 1;
    return { allowed: true };
  }

  /** Drops the buckets that are full again; returns how many. */
  #sweep(now: number): number {
    let dropped = 0;
    for (const [session, bucket] of this.#buckets) {
      if (bucket.tokens + ((now - bucket.at) / 1000) * this.#perSecond >= this.#burst) {
        this.#buckets.delete(session);
        dropped += 1;
      }
    }
    return dropped;
  }

  #refillSeconds(): number {
    return Math.ceil(this.#burst / this.#perSecond);
  }
}
