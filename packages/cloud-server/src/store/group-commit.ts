import type { Store, StoreWriter } from './types.js';

/**
 * Group commit: what is submitted while a transaction runs waits for the next one, and a whole
 * batch is committed by one transaction, so concurrent writers cost one commit per batch rather
 * than one each. `write` gets a batch and returns one result per item, in order; if it throws,
 * every item of the batch is rejected with that error.
 */
export class GroupCommit<Item, Result> {
  readonly #store: Pick<Store, 'transaction'>;
  readonly #write: (tx: StoreWriter, items: Item[]) => Promise<Result[]>;
  readonly #maxBatch: number;
  readonly #onCommitted: (() => void) | undefined;
  #queue: Array<{ item: Item; resolve: (result: Result) => void; reject: (error: unknown) => void }> = [];
  #running: Promise<void> | undefined;

  constructor(
    store: Pick<Store, 'transaction'>,
    write: (tx: StoreWriter, items: Item[]) => Promise<Result[]>,
    options: { maxBatch: number; onCommitted?: () => void },
  ) {
    this.#store = store;
    this.#write = write;
    this.#maxBatch = options.maxBatch;
    this.#onCommitted = options.onCommitted;
  }

  /** Resolves with the item's result once its transaction has committed. */
  submit(item: Item): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#running ??= this.#drain();
    });
  }

  /** Waits until everything submitted so far is committed (or has failed). */
  async flush(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async #drain(): Promise<void> {
    // Let the current tick's writers join the first batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, this.#maxBatch);
        try {
          const results = await this.#store.transaction((tx) => this.#write(tx, batch.map((entry) => entry.item)));
          batch.forEach((entry, position) => entry.resolve(results[position]!));
          this.#onCommitted?.();
        } catch (error) {
          for (const entry of batch) entry.reject(error);
        }
      }
    } finally {
      this.#running = undefined;
    }
  }
}
