import { EdgeError } from './errors.js';

/** Default size of each replay cache (DPoP proof ids, used nonces). */
export const DEFAULT_REPLAY_CACHE_SIZE = 200_000;

/**
 * The ids of single-use values (DPoP proof ids, challenge nonces) for as long as the value could
 * still be accepted. Bounded, and when full of live ids it refuses to take another rather than
 * forget one: a forgotten id could be used a second time. An LRU cache does the opposite — a
 * flood of fresh ids pushes out live ones — so it cannot serve here.
 */
export interface ReplayCacheOptions {
  /** Most ids remembered at once. */
  capacity: number;
  /** How long an id is remembered: at least as long as its value stays acceptable. */
  ttlMs: number;
  now: () => Date;
}

export type Remembered = 'added' | 'replayed' | 'full';

export class ReplayCache {
  readonly #capacity: number;
  readonly #ttlMs: number;
  readonly #now: () => Date;
  /** id → when it may be forgotten (ms). Every id lives #ttlMs, so insertion order is expiry order. */
  readonly #expiries = new Map<string, number>();

  constructor(options: ReplayCacheOptions) {
    if (!Number.isInteger(options.capacity) || options.capacity < 1) throw new RangeError('capacity must be a positive integer');
    this.#capacity = options.capacity;
    this.#ttlMs = options.ttlMs;
    this.#now = options.now;
  }

  /** Remembers `id` unless it is already remembered (`replayed`) or there is no room (`full`). */
  add(id: string): Remembered {
    const now = this.#now().getTime();
    this.#prune(now);
    const expiry = this.#expiries.get(id);
    if (expiry !== undefined && expiry > now) return 'replayed';
    if (this.#expiries.size >= this.#capacity) return 'full';
    this.#expiries.set(id, now + this.#ttlMs);
    return 'added';
  }

  /** Whole seconds until the oldest id may be forgotten, that is until there is room again (at least 1). */
  retryAfterSeconds(): number {
    const oldest = this.#expiries.values().next();
    const waitMs = oldest.done ? 0 : oldest.value - this.#now().getTime();
    return Math.max(1, Math.ceil(waitMs / 1000));
  }

  get size(): number {
    return this.#expiries.size;
  }

  /**
   * Drops expired ids from the oldest end. Stops at the first live one: should the clock step
   * back, ids are kept longer than needed, never dropped early.
   */
  #prune(now: number): void {
    for (const [id, expiry] of this.#expiries) {
      if (expiry > now) return;
      this.#expiries.delete(id);
    }
  }
}

/** The answer when a replay cache is full of live ids: come back once the oldest has expired. */
export function replayCacheFull(cache: ReplayCache): EdgeError {
  return new EdgeError('replay_cache_full', 'The control plane holds as many single-use proofs as it can remember; try again shortly', undefined, {
    retryAfterSeconds: cache.retryAfterSeconds(),
  });
}
