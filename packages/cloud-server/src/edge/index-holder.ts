import type { StoreReader } from '../store/types.js';
import { PolicyIndex } from './policy-index.js';

/**
 * Holds the current policy snapshot. `refresh()` builds a new one from the store and swaps it in;
 * concurrent refreshes coalesce, and a refresh asked for while one runs runs once more after it,
 * so the last admin change is always reflected.
 */
export class PolicyIndexHolder {
  #current: PolicyIndex;
  #running: Promise<void> | undefined;
  #again = false;
  readonly #store: Pick<StoreReader, 'listObjects'>;

  private constructor(store: Pick<StoreReader, 'listObjects'>, initial: PolicyIndex) {
    this.#store = store;
    this.#current = initial;
  }

  static async create(store: Pick<StoreReader, 'listObjects'>): Promise<PolicyIndexHolder> {
    return new PolicyIndexHolder(store, await PolicyIndex.load(store));
  }

  get current(): PolicyIndex {
    return this.#current;
  }

  refresh(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      try {
        do {
          this.#again = false;
          this.#current = await PolicyIndex.load(this.#store);
        } while (this.#again);
      } finally {
        this.#running = undefined;
      }
    })();
    return this.#running;
  }
}
