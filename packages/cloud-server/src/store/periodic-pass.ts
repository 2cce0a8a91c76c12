import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Store, StoreWriter } from './types.js';

/**
 * A background pass of maintenance (audit and metrics retention): the first one `firstDelayMs`
 * after start(), then one `intervalMs` after each ends; one at a time, on timers that never keep
 * the process alive. A pass reads `stopping` between its steps, so stop() waits for one step.
 */
export class PeriodicPass<T> {
  readonly #pass: () => Promise<T>;
  readonly #intervalMs: number;
  readonly #firstDelayMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<T> | undefined;
  #stopping = false;

  constructor(pass: () => Promise<T>, options: { intervalMs: number; firstDelayMs: number }) {
    this.#pass = pass;
    this.#intervalMs = options.intervalMs;
    this.#firstDelayMs = options.firstDelayMs;
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  start(): void {
    if (this.#timer !== undefined || this.#stopping) return;
    const pass = () => {
      void this.runOnce().finally(() => {
        if (!this.#stopping) this.#timer = setTimeout(pass, this.#intervalMs).unref();
      });
    };
    this.#timer = setTimeout(pass, this.#firstDelayMs).unref();
  }

  /** Ends the pass in progress after its current step. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** Runs a pass now, or joins the one running. */
  runOnce(): Promise<T> {
    this.#running ??= this.#pass().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }
}

/** This process's name in the `leases` table: host, pid and a random suffix. */
export function leaseHolderId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

export interface LeasedStepsOptions {
  store: Store;
  lease: string;
  holder: string;
  /** How long each step's renewal holds the lease. */
  leaseMs: number;
  now: () => Date;
  /** Pause between steps, so that requests and writes take turns with the pass. */
  pauseMs: number;
  /** Read between steps: a stopping pass ends after its current step. */
  stopping: () => boolean;
}

/**
 * Runs `step` once per short transaction that also renews the pass's lease, with a pause between
 * steps (node:sqlite is synchronous: one long transaction would stall every request), until a step
 * answers that it is done or the pass is stopping. `leaseLost` says that another replica held the
 * lease at a step, which ran nothing then.
 */
export async function runLeasedSteps(
  options: LeasedStepsOptions,
  step: (tx: StoreWriter) => Promise<'done' | 'more'>,
): Promise<{ steps: number; leaseLost: boolean }> {
  const { store, lease, holder, leaseMs, now, pauseMs, stopping } = options;
  let steps = 0;
  while (!stopping()) {
    const at = now();
    const outcome = await store.transaction(async (tx) => ((await tx.tryAcquireLease(lease, holder, leaseMs, at)) ? step(tx) : undefined));
    if (outcome === undefined) return { steps, leaseLost: true };
    steps += 1;
    if (outcome === 'done') break;
    await sleep(pauseMs);
  }
  return { steps, leaseLost: false };
}
