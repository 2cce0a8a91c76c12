import type { Store } from '../store/types.js';
import { backoffDelay, describeFailure, type AuditSink, type DeliveryFailure } from './sink.js';
import type { ExporterLogger, LogStreamExportStatus } from './export-status.js';
import type { ExportStream } from './stream-config.js';

export interface RunnerContext {
  store: Store;
  /** This exporter's identity in the `leases` table. */
  holder: string;
  leaseTtlMs: number;
  settleMs: number;
  now: () => Date;
  logger: ExporterLogger;
}

/** Why a delivery was cut short when another replica took the stream over. */
class LeaseLost extends Error {
  override name = 'LeaseLost';
}

/**
 * The smallest possible UUIDv7 of a millisecond: every id created in that millisecond or later
 * sorts above it, every earlier one below. Same format as real ids, so any collation agrees.
 */
export function idFloor(ms: number): string {
  const hex = Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-0000-0000-000000000000`;
}

/**
 * Exports one stream: holds its lease (`logstream:<id>`), reads events after the cursor in id
 * order, delivers them, then advances the cursor in a transaction that first renews the lease,
 * so a replica that lost the lease cannot move the cursor (at worst it delivered a duplicate).
 * Events younger than `settleMs` wait: ids are taken before commit (and on each replica's own
 * clock), so a transaction that commits late can add an event below one already read; the
 * delay lets such events land first. Commit delays or clock skew beyond it could skip events.
 */
export class StreamRunner {
  readonly #sink: AuditSink;
  readonly #lease: string;
  readonly #status: LogStreamExportStatus;
  #stopping = false;
  #loop: Promise<void> | undefined;
  #delivery = new AbortController();
  #idle: { wakeable: boolean; done: () => void } | undefined;
  #wakePending = false;
  #leaseHeld = false;
  #leaseExpiresAt = 0;
  #renewTimer: NodeJS.Timeout | undefined;
  #renewing: Promise<void> | undefined;
  #cursor: { value: string | null } | undefined;

  constructor(
    readonly stream: ExportStream,
    createSink: (onFailure: (failure: DeliveryFailure) => void) => AuditSink,
    private readonly context: RunnerContext,
  ) {
    this.#lease = `logstream:${stream.id}`;
    this.#status = {
      streamId: stream.id,
      name: stream.name,
      type: stream.sink.type,
      resourceSetId: stream.resourceSetId,
      state: 'starting',
      leaseHeld: false,
      lastDeliveredId: null,
      lastDeliveredAt: null,
      delivered: 0,
      consecutiveFailures: 0,
      lastError: null,
    };
    this.#sink = createSink((failure) => this.#fail(failure.message, failure.attempt, failure.delayMs));
  }

  status(): LogStreamExportStatus {
    return { ...this.#status, leaseHeld: this.#leaseHeld };
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** New events may be there: end an idle wait now (not a backoff wait). */
  wake(): void {
    if (this.#idle?.wakeable) this.#idle.done();
    else this.#wakePending = true;
  }

  /** Waits for the delivery in flight (and its cursor update), then gives the lease up. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#renewTimer);
    this.#delivery.abort(new Error('log stream export stopping'));
    this.#idle?.done();
    await this.#loop;
    await this.#renewing;
    if (this.#leaseHeld) {
      this.#leaseHeld = false;
      await this.context.store.transaction((tx) => tx.releaseLease(this.#lease, this.context.holder)).catch(() => false);
    }
    this.#status.state = 'stopped';
    await this.#sink.close().catch(() => undefined);
  }

  async #run(): Promise<void> {
    const { store, now, settleMs } = this.context;
    while (!this.#stopping) {
      try {
        if (!this.#leaseHeld && !(await this.#acquire())) {
          this.#status.state = 'standby';
          await this.#wait(Math.min(10_000, this.context.leaseTtlMs / 3), false);
          continue;
        }
        this.#cursor ??= { value: await this.#startCursor() };
        const batch = await store.listAuditEventsAfter(this.#cursor.value, {
          resourceSetId: this.stream.resourceSetId,
          beforeId: idFloor(now().getTime() - settleMs),
          limit: this.#sink.batchSize,
        });
        if (batch.length === 0) {
          this.#update({ state: 'idle', consecutiveFailures: 0 });
          await this.#wait(this.stream.flushIntervalMs, true);
          continue;
        }
        this.#status.state = 'delivering';
        await this.#sink.deliver(batch, this.#delivery.signal);
        await this.#advance(batch[batch.length - 1]!.id, batch.length);
      } catch (error) {
        if (this.#stopping || error instanceof LeaseLost) continue;
        this.#fail(describeFailure(error), this.#status.consecutiveFailures + 1);
        await this.#wait(backoffDelay(this.#status.consecutiveFailures), false);
      }
    }
  }

  /** A stream without a cursor starts at its own creation (its `create` event included). */
  async #startCursor(): Promise<string | null> {
    const saved = await this.context.store.getLogStreamCursor(this.stream.id);
    if (saved) return saved.lastEventId;
    return this.stream.fromBeginning ? null : idFloor(Date.parse(this.stream.createdAt));
  }

  async #acquire(): Promise<boolean> {
    const { store, holder, leaseTtlMs, now } = this.context;
    const at = now();
    if (!(await store.transaction((tx) => tx.tryAcquireLease(this.#lease, holder, leaseTtlMs, at)))) return false;
    this.#leaseHeld = true;
    this.#leaseExpiresAt = at.getTime() + leaseTtlMs;
    this.#cursor = undefined; // another replica may have moved it while we did not hold the lease
    this.#renewTimer = setInterval(() => void (this.#renewing ??= this.#renew()), leaseTtlMs / 3);
    this.#renewTimer.unref();
    this.context.logger.info({ streamId: this.stream.id }, 'audit export: exporting log stream');
    return true;
  }

  // Renewed on a timer, not only when the cursor moves: a webhook may be down for an hour.
  async #renew(): Promise<void> {
    const { store, holder, leaseTtlMs, now } = this.context;
    try {
      const at = now();
      if (await store.transaction((tx) => tx.tryAcquireLease(this.#lease, holder, leaseTtlMs, at))) {
        this.#leaseExpiresAt = at.getTime() + leaseTtlMs;
      } else this.#loseLease();
    } catch {
      // The store is unreachable: keep exporting while the lease is surely still ours.
      if (now().getTime() >= this.#leaseExpiresAt) this.#loseLease();
    } finally {
      this.#renewing = undefined;
    }
  }

  async #advance(lastId: string, count: number): Promise<void> {
    const { store, holder, leaseTtlMs, now } = this.context;
    const at = now();
    const held = await store.transaction(async (tx) => {
      if (!(await tx.tryAcquireLease(this.#lease, holder, leaseTtlMs, at))) return false;
      await tx.setLogStreamCursor(this.stream.id, lastId, at.toISOString());
      return true;
    });
    if (!held) {
      this.#loseLease();
      return;
    }
    this.#leaseExpiresAt = at.getTime() + leaseTtlMs;
    this.#cursor = { value: lastId };
    this.#update({ lastDeliveredId: lastId, lastDeliveredAt: at.toISOString(), consecutiveFailures: 0 });
    this.#status.delivered += count;
    this.context.logger.debug({ streamId: this.stream.id, count }, 'audit export: events delivered');
  }

  #loseLease(): void {
    if (!this.#leaseHeld || this.#stopping) return;
    this.#leaseHeld = false;
    clearInterval(this.#renewTimer);
    const delivery = this.#delivery;
    this.#delivery = new AbortController();
    delivery.abort(new LeaseLost());
    this.#idle?.done();
    this.context.logger.info({ streamId: this.stream.id }, 'audit export: lease lost, standing by');
  }

  #fail(message: string, attempt: number, delayMs?: number): void {
    this.#update({ state: 'failing', consecutiveFailures: attempt, lastError: message });
    this.context.logger.warn(
      { streamId: this.stream.id, attempt, ...(delayMs === undefined ? {} : { retryInMs: delayMs }), error: message },
      'audit export: delivery failed, will retry',
    );
  }

  #update(patch: Partial<LogStreamExportStatus>): void {
    Object.assign(this.#status, patch);
  }

  #wait(ms: number, wakeable: boolean): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    if (wakeable && this.#wakePending) {
      this.#wakePending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#idle = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#idle = { wakeable, done };
    });
  }
}
