import { TesseraAccessDeniedError } from '../errors.js';

/** How long a refusal is answered without asking the control plane again, unless it says otherwise. */
export const DENIAL_MEMORY_MS = 5_000;
/** The longest a `Retry-After` on a refusal can make that. */
export const MAX_DENIAL_MEMORY_MS = 60_000;
/** Refusals kept at most (one per server workload of the directory, in practice). */
const MAX_ENTRIES = 10_000;

/**
 * The control plane's refusals of credentials, per client and server workload, for a short
 * while. HTTP clients that treat a failed request as a network error (ky, openai, stripe) retry
 * it at once; without this, every retry would cost a call to the control plane and its latency,
 * for the same answer. A new session (a new attestation, maybe a new directory) forgets them.
 */
export class DenialMemory {
  readonly #entries = new Map<string, { error: TesseraAccessDeniedError; until: number }>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /**
   * The refusal still standing for `key`, as a new error for this request: the same code,
   * details and cloud's words, its message naming `target` (`scheme://host:port/path`).
   */
  recall(key: string, target: string): TesseraAccessDeniedError | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (this.#now() >= entry.until) {
      this.#entries.delete(key);
      return undefined;
    }
    const { code, details, cloudMessage } = entry.error;
    const message = `Tessera denied access to ${target} (${code})${cloudMessage ? `: ${cloudMessage}` : ''}`;
    return new TesseraAccessDeniedError(code, message, details, cloudMessage !== undefined ? { cloudMessage } : {});
  }

  remember(key: string, error: TesseraAccessDeniedError): void {
    const ms = error.retryAfterMs === undefined ? DENIAL_MEMORY_MS : Math.min(error.retryAfterMs, MAX_DENIAL_MEMORY_MS);
    if (!(ms > 0)) return;
    this.#entries.delete(key);
    if (this.#entries.size >= MAX_ENTRIES) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, { error, until: this.#now() + ms });
  }

  clear(): void {
    this.#entries.clear();
  }
}
