/**
 * Failed key fetches, remembered for a short time. `guard(fetch, key)` runs the fetch unless a
 * failure for `key` is still remembered, in which case it throws that failure again at once:
 * a dead JWKS or discovery endpoint is then asked once per pause, not once per token, and the
 * attestations meanwhile are answered `trust_provider_error` without waiting for it.
 */
import { KeySourceError } from '../../http/bounded-fetch.js';

interface Failure {
  error: KeySourceError;
  until: number;
}

export class FailureMemory<K = undefined> {
  readonly #failures = new Map<K, Failure>();
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #maxEntries: number;

  /** `ttlMs` 0 remembers nothing. Keys come from admin config; `maxEntries` only bounds growth. */
  constructor(ttlMs: number, now: () => number = Date.now, maxEntries = 100) {
    this.#ttlMs = ttlMs;
    this.#now = now;
    this.#maxEntries = maxEntries;
  }

  async guard<T>(run: () => Promise<T>, key?: K): Promise<T> {
    const remembered = this.#failures.get(key as K);
    if (remembered !== undefined && this.#now() < remembered.until) throw remembered.error;
    try {
      const result = await run();
      this.#failures.delete(key as K);
      return result;
    } catch (error) {
      const failure = error instanceof KeySourceError ? error : new KeySourceError('key source unavailable');
      this.#failures.delete(key as K);
      this.#failures.set(key as K, { error: failure, until: this.#now() + this.#ttlMs });
      for (const oldest of this.#failures.keys()) {
        if (this.#failures.size <= this.#maxEntries) break;
        this.#failures.delete(oldest);
      }
      throw failure;
    }
  }
}
