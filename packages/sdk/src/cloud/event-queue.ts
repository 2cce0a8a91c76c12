import { TesseraUnavailableError } from '../errors.js';
import type { EdgeEvent } from './edge-client.js';
import { silentLogger, type CloudLogger } from './logger.js';

/** Whatever delivers one batch; `EdgeClient.sendEvents` in the SDK. */
export interface EventSender {
  sendEvents(events: readonly EdgeEvent[]): Promise<void>;
}

export interface EventQueueOptions {
  sender: EventSender;
  /** Events held at most; beyond, new events are dropped and counted (default 10,000). */
  maxSize?: number;
  /** Events per request, at most 500 (the edge API's limit). */
  batchSize?: number;
  /** Periodic flush; 0 disables the timer (default 5 s). */
  flushIntervalMs?: number;
  logger?: CloudLogger;
}

const HOST = /^[A-Za-z0-9.:_[\]-]{1,253}$/;
const REASON = /^[a-z_]{1,64}$/;
const STATUS_CLASSES = new Set(['1xx', '2xx', '3xx', '4xx', '5xx']);
const OUTCOMES = new Set(['allow', 'deny', 'error']);
/** Dropped events are reported at most this often, with the running total. */
const DROP_WARNING_INTERVAL_MS = 60_000;

/**
 * Edge events (outcome, status class, latency per target), batched to `/edge/v1/events` from a
 * bounded queue. `push()` runs on the request path: it never blocks, never throws, and when the
 * queue is full it drops the event and counts it. Delivery is best effort.
 */
export class EventQueue {
  readonly #sender: EventSender;
  readonly #maxSize: number;
  readonly #batchSize: number;
  readonly #logger: CloudLogger;
  readonly #timer: NodeJS.Timeout | undefined;
  #events: EdgeEvent[] = [];
  #dropped = 0;
  #flushing: Promise<void> | undefined;
  #closed = false;
  #lastDropWarning = -Infinity;

  constructor(options: EventQueueOptions) {
    this.#sender = options.sender;
    this.#maxSize = Math.max(1, options.maxSize ?? 10_000);
    this.#batchSize = Math.min(500, Math.max(1, options.batchSize ?? 500));
    this.#logger = options.logger ?? silentLogger;
    const interval = options.flushIntervalMs ?? 5_000;
    if (interval > 0) {
      this.#timer = setInterval(() => void this.flush(), interval);
      this.#timer.unref(); // never keeps the process alive
    }
  }

  /** Events dropped since start: queue full, malformed, or refused by the cloud. */
  get dropped(): number {
    return this.#dropped;
  }

  get size(): number {
    return this.#events.length;
  }

  /** Queues an event; `false` when it was dropped. */
  push(event: EdgeEvent): boolean {
    try {
      const clean = this.#closed ? undefined : sanitize(event);
      if (clean === undefined || this.#events.length >= this.#maxSize) {
        this.#dropped += 1;
        return false;
      }
      this.#events.push(clean);
      // A full batch goes at once; what is left waits for the timer, so that under steady traffic
      // the batches stay full instead of one request per round trip carrying a few events.
      if (this.#events.length >= this.#batchSize && this.#flushing === undefined) {
        this.#flushing = this.#drain(false).finally(() => {
          this.#flushing = undefined;
        });
      }
      return true;
    } catch {
      this.#dropped += 1; // a getter that throws, say: the request path must not see it
      return false;
    }
  }

  /** Sends everything queued, in batches; one flush at a time. Never rejects. */
  async flush(): Promise<void> {
    // A size-triggered drain may be running: let it finish, then send the rest.
    if (this.#flushing !== undefined) await this.#flushing;
    return (this.#flushing ??= this.#drain(true).finally(() => {
      this.#flushing = undefined;
    }));
  }

  /** Stops the timer and sends what is left. */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#closed = true;
    await this.#flushing;
    await this.flush();
  }

  /** Lost events are worth a warning, but not one per flush. */
  #warnDropped(reason: unknown): void {
    const now = Date.now();
    if (now - this.#lastDropWarning < DROP_WARNING_INTERVAL_MS) return;
    this.#lastDropWarning = now;
    this.#logger.warn('tessera: edge events not delivered', { reason, dropped: this.#dropped });
  }

  /** `all`: until the queue is empty; otherwise only full batches. */
  async #drain(all: boolean): Promise<void> {
    while (all ? this.#events.length > 0 : this.#events.length >= this.#batchSize) {
      const batch = this.#events.splice(0, this.#batchSize);
      try {
        await this.#sender.sendEvents(batch);
      } catch (error) {
        const reason = (error as { code?: unknown }).code ?? 'error';
        const droppedBefore = this.#dropped;
        if (error instanceof TesseraUnavailableError) {
          // Put back what still fits, ahead of newer events; try again at the next flush. The
          // outage itself is logged once by the SDK, not here at every flush.
          const room = Math.max(0, this.#maxSize - this.#events.length);
          this.#dropped += batch.length - Math.min(room, batch.length);
          this.#events.unshift(...batch.slice(0, room));
          this.#logger.debug('tessera: edge events kept for the next flush', { events: batch.length, reason });
        } else {
          this.#dropped += batch.length; // refused (not attested, malformed): retrying cannot help
        }
        if (this.#dropped > droppedBefore) this.#warnDropped(reason);
        return;
      }
    }
  }
}

/** The event as the edge API validates it, or `undefined` if it cannot be made valid. */
function sanitize(event: EdgeEvent): EdgeEvent | undefined {
  const { target } = event;
  if (!OUTCOMES.has(event.outcome) || (target.scheme !== 'http' && target.scheme !== 'https')) return undefined;
  if (!HOST.test(target.host) || !Number.isInteger(target.port) || target.port < 1 || target.port > 65535) return undefined;
  const time = new Date(event.time);
  if (Number.isNaN(time.getTime())) return undefined;
  // The query string is cut off: a query-injected credential must never be reported.
  const path = target.path === undefined ? undefined : (target.path.split(/[?#]/, 1)[0] ?? '').slice(0, 1024);
  const latencyMs = Number.isFinite(event.latencyMs) ? Math.min(3_600_000, Math.max(0, event.latencyMs)) : 0;
  return {
    time: time.toISOString(),
    target: { scheme: target.scheme, host: target.host, port: target.port, ...(path !== undefined ? { path } : {}) },
    outcome: event.outcome,
    statusClass: event.statusClass !== null && STATUS_CLASSES.has(event.statusClass) ? event.statusClass : null,
    latencyMs,
    ...(event.reason !== undefined && REASON.test(event.reason) ? { reason: event.reason } : {}),
  };
}
