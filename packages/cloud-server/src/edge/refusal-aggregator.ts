import { uuidv7 } from '../ids.js';
import type { AuditEvent } from '../store/types.js';
import type { AuditWriter } from './audit-writer.js';

export interface RefusalAggregatorOptions {
  now: () => Date;
  /** Refusals recorded one by one per minute, the first of each key (default 100). */
  maxSingleEventsPerMinute?: number;
  /** Keys counted apart per minute; refusals from further addresses share one count per reason (default 1000). */
  maxKeysPerMinute?: number;
  /** Summaries could not be written; they are kept and tried again at the next flush. */
  onError?: (error: unknown) => void;
}

const MINUTE_MS = 60_000;
/** After a failed write (the store is down), summaries are tried again this much later. */
const RETRY_DELAY_MS = 5_000;

interface Tally {
  /** null: the addresses past `maxKeysPerMinute`, counted together. */
  source: string | null;
  /** The latest refusal counted: its summary takes this event's fields. */
  latest: AuditEvent;
  /** Refusals counted and not yet written. */
  count: number;
  firstAt: string;
  lastAt: string;
}

interface Window {
  tallies: Map<string, Tally>;
  singles: number;
}

/**
 * Refusals of callers the control plane could not identify (failed attestations) cost an
 * attacker one request each, and would cost the control plane one audit row each: a flood fills
 * the disk. So they are counted per minute and key — resource set, source address, outcome,
 * reason. The first refusal of a key is still recorded at once with `count: 1`, so an operator
 * sees a new problem immediately (within a budget of such events per minute); the others are
 * written as one summary per key when the minute ends, or at shutdown, with `count`, `firstAt`
 * and `lastAt`. Every refusal is in the count of exactly one event. Memory is bounded by the
 * keys per minute; past that, further addresses share one key per reason (`sourceIp: null`).
 */
export class RefusalAggregator {
  readonly #writer: Pick<AuditWriter, 'append' | 'appendMany'>;
  readonly #now: () => Date;
  readonly #maxSingles: number;
  readonly #maxKeys: number;
  readonly #onError: (error: unknown) => void;
  /** Minute (since 1970) → what was counted in it. */
  readonly #windows = new Map<number, Window>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #closed = false;

  constructor(writer: Pick<AuditWriter, 'append' | 'appendMany'>, options: RefusalAggregatorOptions) {
    this.#writer = writer;
    this.#now = options.now;
    this.#maxSingles = options.maxSingleEventsPerMinute ?? 100;
    this.#maxKeys = options.maxKeysPerMinute ?? 1000;
    this.#onError = options.onError ?? (() => {});
  }

  /** Records one refusal: written at once (resolving when durable), or counted for a summary. */
  record(event: AuditEvent): Promise<void> {
    if (this.#closed) return this.#writer.append(single(event));
    const window = this.#window(Math.floor(Date.parse(event.time) / MINUTE_MS));
    const own = typeof event.data.sourceIp === 'string' ? event.data.sourceIp : null;
    const overflow = !window.tallies.has(keyOf(event, own)) && window.tallies.size >= this.#maxKeys;
    const source = overflow ? null : own;
    const key = keyOf(event, source);
    const tally = window.tallies.get(key);
    // Due at the end of the minute even with nothing to summarise: that drops the window.
    this.#schedule();
    if (!tally) {
      window.tallies.set(key, { source, latest: event, count: 0, firstAt: event.time, lastAt: event.time });
      if (!overflow && window.singles < this.#maxSingles) {
        window.singles += 1;
        return this.#writer.append(single(event));
      }
    }
    count(tally ?? window.tallies.get(key)!, event);
    return Promise.resolve();
  }

  /** Writes the summaries of every minute that has ended. */
  flushDue(): Promise<void> {
    const current = Math.floor(this.#now().getTime() / MINUTE_MS);
    return this.#flush((minute) => minute < current);
  }

  /** Writes every summary, the current minute's included; refusals after this are written one by one. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#flush(() => true);
  }

  async #flush(due: (minute: number) => boolean): Promise<void> {
    while (this.#flushing) await this.#flushing;
    // Taken out before the write: a refusal recorded meanwhile starts a new tally, never one being written.
    const taken = [...this.#windows].filter(([minute]) => due(minute));
    for (const [minute] of taken) this.#windows.delete(minute);
    const tallies = taken.flatMap(([, window]) => [...window.tallies.values()].filter((tally) => tally.count > 0));
    if (tallies.length === 0) return;
    this.#flushing = this.#writer.appendMany(tallies.map((tally) => this.#summary(tally))).catch((error: unknown) => {
      for (const [minute, window] of taken) this.#restore(minute, window);
      this.#onError(error);
      this.#schedule(RETRY_DELAY_MS);
    });
    try {
      await this.#flushing;
    } finally {
      this.#flushing = undefined;
    }
  }

  /** Puts a window whose summaries could not be written back, adding to what was counted since. */
  #restore(minute: number, failed: Window): void {
    const window = this.#window(minute);
    for (const [key, tally] of failed.tallies) {
      const later = window.tallies.get(key);
      if (!later || later.count === 0) window.tallies.set(key, tally);
      else if (tally.count > 0) {
        later.count += tally.count;
        later.firstAt = tally.firstAt;
      }
    }
  }

  #window(minute: number): Window {
    let window = this.#windows.get(minute);
    if (!window) this.#windows.set(minute, (window = { tallies: new Map(), singles: 0 }));
    return window;
  }

  /** One timer, due just after the earliest minute has ended (and not sooner than `minDelayMs`). */
  #schedule(minDelayMs = 0): void {
    if (this.#timer !== undefined || this.#closed || this.#windows.size === 0) return;
    const earliest = Math.min(...this.#windows.keys());
    const delay = Math.max(minDelayMs, (earliest + 1) * MINUTE_MS - this.#now().getTime() + 50);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flushDue().then(() => this.#schedule());
    }, delay);
    this.#timer.unref();
  }

  #summary(tally: Tally): AuditEvent {
    const now = this.#now();
    // The instance id differs from one refusal to the next: a summary names none.
    const { sdkInstance: _instance, ...data } = tally.latest.data;
    return {
      ...tally.latest,
      id: uuidv7(now.getTime()),
      time: now.toISOString(),
      data: { ...data, sourceIp: tally.source, count: tally.count, firstAt: tally.firstAt, lastAt: tally.lastAt },
    };
  }
}

function count(tally: Tally, event: AuditEvent): void {
  if (tally.count === 0) tally.firstAt = event.time;
  tally.count += 1;
  tally.latest = event;
  tally.lastAt = event.time;
}

function single(event: AuditEvent): AuditEvent {
  return { ...event, data: { ...event.data, count: 1 } };
}

function keyOf(event: AuditEvent, source: string | null): string {
  return JSON.stringify([event.kind, event.resourceSetId, event.outcome, event.reason, source]);
}
