import type { AuditEvent } from '../store/types.js';
import { DestinationRefusedError } from '../egress/destination-guard.js';

/**
 * What every log stream destination implements. The exporter advances a stream's cursor only
 * after `deliver` resolves, so a sink must resolve only once the events are durably delivered
 * (fsynced, acknowledged with 2xx); a sink that fails part-way may deliver some events twice.
 */
export interface AuditSink {
  /** How many events the exporter reads per delivery. */
  readonly batchSize: number;
  /**
   * Delivers `events` (oldest first). Aborting `signal` cuts waits between retries short; an
   * attempt already in flight runs to its end, so shutdown does not cut a write in half.
   */
  deliver(events: readonly AuditEvent[], signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/** One failed attempt, as reported to the exporter's status (never a secret or an event payload). */
export interface DeliveryFailure {
  attempt: number;
  message: string;
  delayMs: number;
}

export const BACKOFF_BASE_MS = 500;
export const BACKOFF_CAP_MS = 30_000;

/**
 * Exponential backoff with "equal jitter": half the exponential step is fixed, half random, so
 * delays keep growing while replicas that failed together do not retry in lockstep.
 */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const step = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  return Math.round(step / 2 + random() * (step / 2));
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** A short, secret-free description of a failure: error codes and class names, never URLs or bodies. */
export function describeFailure(error: unknown): string {
  if (error instanceof DeliveryError || error instanceof DestinationRefusedError) return error.message;
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause;
  const code = (error as { code?: unknown } | null)?.code ?? cause?.code;
  if (typeof code === 'string') return code;
  if (error instanceof Error) return error.name;
  return 'unknown error';
}

/** A failure whose message was written to be shown as it is (no secrets, no payloads). */
export class DeliveryError extends Error {
  override name = 'DeliveryError';
}
