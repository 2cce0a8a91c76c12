import type { AuditEvent, Store } from '../store/types.js';

/**
 * Group commit for decision audit events. A decision is answered only once its event is durable
 * (no credential leaves without a record), but concurrent decisions share one transaction, so
 * auditing every request costs one commit per batch rather than one per request.
 */
export class AuditWriter {
  readonly #store: Pick<Store, 'transaction'>;
  readonly #maxBatch: number;
  #queue: Array<{ event: AuditEvent; resolve: () => void; reject: (error: unknown) => void }> = [];
  #running: Promise<void> | undefined;
  readonly #onFlushed: (() => void) | undefined;

  constructor(store: Pick<Store, 'transaction'>, options: { maxBatch?: number; onFlushed?: () => void } = {}) {
    this.#store = store;
    this.#maxBatch = options.maxBatch ?? 500;
    this.#onFlushed = options.onFlushed;
  }

  /** Resolves once the event is committed; rejects when it could not be written. */
  append(event: AuditEvent): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ event, resolve, reject });
      this.#running ??= this.#drain();
    });
  }

  appendMany(events: AuditEvent[]): Promise<void> {
    return Promise.all(events.map((event) => this.append(event))).then(() => undefined);
  }

  /** Waits until everything queued so far is written. */
  async flush(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async #drain(): Promise<void> {
    // Let the current tick's requests join the first batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, this.#maxBatch);
        try {
          await this.#store.transaction(async (tx) => {
            for (const { event } of batch) await tx.appendAuditEvent(event);
          });
          for (const entry of batch) entry.resolve();
          this.#onFlushed?.();
        } catch (error) {
          for (const entry of batch) entry.reject(error);
        }
      }
    } finally {
      this.#running = undefined;
    }
  }
}
