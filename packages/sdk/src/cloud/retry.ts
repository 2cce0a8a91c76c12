import { setTimeout as delay } from 'node:timers/promises';
import { TesseraUnavailableError } from '../errors.js';
import { TransportError, type CloudResponse } from './transport.js';

/**
 * Retry policy for calls to the cloud: network errors, 429 and 502/503/504 are tried again with
 * full-jitter exponential backoff until a total deadline; any other answer (a decision, a 4xx)
 * is returned at once for the caller to interpret. Past the deadline: `TesseraUnavailableError`.
 */
export interface RetryOptions {
  /** Total time for all attempts, default 10 s. */
  deadlineMs?: number;
  /** Upper bound of one attempt, default 5 s (cut to what is left of the deadline). */
  attemptTimeoutMs?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Answers tried again (default `RETRYABLE_STATUSES`); any other is returned at once. */
  retryableStatuses?: ReadonlySet<number>;
  /** Longest `Retry-After` honoured, default 5 s. */
  maxRetryAfterMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** An attempt failed and another follows after `delayMs` (for logs: what failed, and why). */
  onRetry?: (failure: RetryFailure) => void;
}

export interface RetryFailure {
  what: string;
  attempt: number;
  /** The network error or HTTP status met, e.g. `connect ECONNREFUSED 127.0.0.1:1`, `HTTP 503`. */
  reason: string;
  delayMs: number;
}

/** The least time worth starting another attempt with. */
const MIN_ATTEMPT_MS = 100;

export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

/** What the error message says was tried: `POST https://cloud.example/edge/v1/attest`. */
export interface RetryLabel {
  what: string;
}

/**
 * Runs `attempt` (given the time it may take) until it returns a final answer. `attempt` must
 * build its request afresh each time: a DPoP proof may be used only once.
 */
export async function withRetry(
  attempt: (timeoutMs: number) => Promise<CloudResponse>,
  label: RetryLabel,
  options: RetryOptions = {},
): Promise<CloudResponse> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => delay(ms, undefined, { ref: false }));
  const random = options.random ?? Math.random;
  const deadlineMs = options.deadlineMs ?? 10_000;
  const attemptTimeoutMs = options.attemptTimeoutMs ?? 5_000;
  const base = options.baseDelayMs ?? 100;
  const cap = options.maxDelayMs ?? 2_000;
  const maxRetryAfter = options.maxRetryAfterMs ?? 5_000;
  const retryable = options.retryableStatuses ?? RETRYABLE_STATUSES;
  const started = now();
  let attempts = 0;
  let last: { reason: string; cause: unknown };

  for (;;) {
    attempts += 1;
    const remaining = started + deadlineMs - now();
    let retryAfterMs: number | undefined;
    try {
      const response = await attempt(Math.max(1, Math.min(attemptTimeoutMs, remaining)));
      if (!retryable.has(response.status)) return response;
      last = { reason: describeStatus(response), cause: new Error(describeStatus(response)) };
      retryAfterMs = response.status === 429 || response.status === 503 ? parseRetryAfter(response.retryAfter) : undefined;
    } catch (error) {
      if (!(error instanceof TransportError) || !error.retryable) throw error;
      last = { reason: error.message, cause: error };
    }
    // Full jitter (AWS architecture blog): spreads a fleet's retries after a shared outage.
    const backoff = random() * Math.min(cap, base * 2 ** (attempts - 1));
    const wait = retryAfterMs === undefined ? backoff : Math.min(retryAfterMs, maxRetryAfter);
    const left = started + deadlineMs - now();
    // An attempt with almost no time left could only time out, and its "no answer" would hide
    // what the earlier attempts met: give up instead.
    if (wait + Math.min(MIN_ATTEMPT_MS, attemptTimeoutMs) >= left) {
      const seconds = ((now() - started) / 1000).toFixed(1);
      throw new TesseraUnavailableError(
        `Tessera cloud unavailable: ${label.what} failed ${attempts} time${attempts === 1 ? '' : 's'} over ${seconds} s (deadline ${deadlineMs / 1000} s); last: ${last.reason}`,
        { cause: last.cause },
      );
    }
    try {
      options.onRetry?.({ what: label.what, attempt: attempts, reason: last.reason, delayMs: Math.round(wait) });
    } catch {
      // An observer must not change the outcome.
    }
    await sleep(wait);
  }
}

function describeStatus(response: CloudResponse): string {
  const code = (response.body as { code?: unknown } | undefined)?.code;
  return `HTTP ${response.status}${typeof code === 'string' && /^[a-z_]{1,64}$/.test(code) ? ` ${code}` : ''}`;
}

/** `Retry-After` in seconds (the HTTP-date form is rare from our cloud and treated as absent). */
export function parseRetryAfter(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,6}$/.test(value.trim())) return undefined;
  return Number(value.trim()) * 1000;
}
