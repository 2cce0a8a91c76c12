import { GroupCommit } from '../store/group-commit.js';
import type { AuditEvent, Store } from '../store/types.js';

/**
 * Group commit for decision audit events. A decision is answered only once its event is durable
 * (no credential leaves without a record), but concurrent decisions share one transaction, so
 * auditing every request costs one commit per batch rather than one per request.
 */
export class AuditWriter {
  readonly #commit: GroupCommit<AuditEvent, void>;

  constructor(store: Pick<Store, 'transaction'>, options: { maxBatch?: number; onFlushed?: () => void } = {}) {
    this.#commit = new GroupCommit<AuditEvent, void>(
      store,
      async (tx, events) => {
        for (const event of events) await tx.appendAuditEvent(event);
        return events.map((): void => undefined);
      },
      { maxBatch: options.maxBatch ?? 500, ...(options.onFlushed ? { onCommitted: options.onFlushed } : {}) },
    );
  }

  /** Resolves once the event is committed; rejects when it could not be written. */
  append(event: AuditEvent): Promise<void> {
    return this.#commit.submit(event);
  }

  appendMany(events: AuditEvent[]): Promise<void> {
    return Promise.all(events.map((event) => this.append(event))).then(() => undefined);
  }

  /** Waits until everything queued so far is written. */
  flush(): Promise<void> {
    return this.#commit.flush();
  }
}
