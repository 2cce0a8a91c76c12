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
