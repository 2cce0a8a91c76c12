import type { CloudLogger } from '../cloud/logger.js';

/**
 * Says when the control plane stops answering and when it answers again — once each, at the
 * default level, never per request — and counts what the outage cost in between. Every call to
 * the control plane reports here: `unreachable` when it got no answer within its deadline,
 * `answered` when an answer came (a refusal is an answer).
 */
export class OutageLog {
  readonly #logger: CloudLogger;
  readonly #failOpen: boolean;
  readonly #now: () => number;
  #since: number | undefined;
  #failedClosed = 0;
  #sentWithoutCredential = 0;
  /** What the last failed attempt of a call to the control plane met (also between outages). */
  lastFailure: string | undefined;

  constructor(logger: CloudLogger, options: { failOpen: boolean; now?: () => number }) {
    this.#logger = logger;
    this.#failOpen = options.failOpen;
    this.#now = options.now ?? Date.now;
  }

  get active(): boolean {
    return this.#since !== undefined;
  }

  /** A call got no answer; the first one of an outage says so, with its cause. */
  unreachable(cause: unknown): void {
    if (this.#since !== undefined) return;
    this.#since = this.#now();
    const effect = this.#failOpen
      ? 'managed requests without a cached credential are sent WITHOUT one (failMode open)'
      : 'managed requests without a cached credential fail closed';
    this.#logger.warn(`tessera: the control plane cannot be reached; until it answers, ${effect}`, { cause: describeCause(cause) });
  }

  /** The control plane answered: an outage, if there was one, is over. */
  answered(): void {
    if (this.#since === undefined) return;
    const fields: Record<string, unknown> = { unreachableForSeconds: Math.round((this.#now() - this.#since) / 100) / 10, failedClosed: this.#failedClosed };
    if (this.#failOpen) fields.sentWithoutCredential = this.#sentWithoutCredential;
    this.#since = undefined;
    this.#failedClosed = 0;
    this.#sentWithoutCredential = 0;
    this.#logger.warn('tessera: the control plane answers again', fields);
  }

  /** A managed request was not sent: no decision could be had. */
  failedClosed(cause: unknown): void {
    this.unreachable(cause);
    this.#failedClosed += 1;
  }

  /** A managed request was sent without a credential (`failMode: 'open'`). */
  sentWithoutCredential(cause: unknown): void {
    this.unreachable(cause);
    this.#sentWithoutCredential += 1;
  }
}

/**
 * The SDK writes the messages of its unavailability errors itself (what was called, how often,
 * the network error or HTTP status met), so they are safe to log; anything else by its code.
 */
function describeCause(cause: unknown): string {
  if (cause instanceof Error && (cause as { code?: unknown }).code === 'cloud_unavailable') return cause.message;
  const code = (cause as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : cause instanceof Error ? cause.name : 'unknown';
}
