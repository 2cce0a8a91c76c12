import type { AuditEvent } from '../store/types.js';
import { DeliveryError, backoffDelay, describeFailure, sleep, type AuditSink, type DeliveryFailure } from './sink.js';

export interface WebhookSinkOptions {
  url: string;
  /** Sent as the `authorization` header when set (the stream's sealed secret). */
  authorization?: string;
  batchSize: number;
  timeoutMs: number;
  /** Called after each failed attempt, before waiting `delayMs` (for status and logs). */
  onFailure?: (failure: DeliveryFailure) => void;
  // Test seams.
  fetch?: typeof fetch;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  random?: () => number;
}

/** Enough to keep a small acknowledgement's connection reusable; a larger body is not read. */
export const MAX_RESPONSE_BYTES = 4096;

/**
 * POSTs `{"events":[...]}` batches to a webhook (a SIEM collector, say). 2xx means delivered;
 * anything else, a redirect included, is retried with backoff for as long as it takes: the
 * events stay in the store and the cursor stays put, so a sink that is down loses nothing.
 */
export class WebhookSink implements AuditSink {
  readonly batchSize: number;
  readonly #url: URL;
  readonly #fetch: typeof fetch;
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<void>;

  constructor(private readonly options: WebhookSinkOptions) {
    const url = URL.parse(options.url);
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) throw new DeliveryError('url is not an http(s) URL');
    // fetch refuses such URLs anyway, with an error message that would repeat the password.
    if (url.username !== '' || url.password !== '') {
      throw new DeliveryError('url must not contain credentials; set the authorization secret instead');
    }
    this.#url = url;
    this.batchSize = options.batchSize;
    this.#fetch = options.fetch ?? fetch;
    this.#sleep = options.sleep ?? sleep;
  }

  async deliver(events: readonly AuditEvent[], signal: AbortSignal): Promise<void> {
    for (let start = 0; start < events.length; start += this.batchSize) {
      await this.#deliverBatch(events.slice(start, start + this.batchSize), signal);
    }
  }

  async close(): Promise<void> {}

  async #deliverBatch(events: readonly AuditEvent[], signal: AbortSignal): Promise<void> {
    const body = JSON.stringify({ events });
    for (let attempt = 1; ; attempt += 1) {
      let message: string;
      try {
        await this.#post(body);
        return;
      } catch (error) {
        message = describeFailure(error);
      }
      if (signal.aborted) throw signal.reason;
      const delayMs = backoffDelay(attempt, this.options.random);
      this.options.onFailure?.({ attempt, message, delayMs });
      await this.#sleep(delayMs, signal);
    }
  }

  async #post(body: string): Promise<void> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.options.authorization !== undefined) headers.authorization = this.options.authorization;
    // Not tied to the stop signal: shutdown waits for this attempt, bounded by the timeout.
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    let response: Response;
    try {
      response = await this.#fetch(this.#url, { method: 'POST', headers, body, redirect: 'manual', signal: timeout });
    } catch (error) {
      throw new DeliveryError(`POST to ${this.#url.host} failed: ${timeout.aborted ? 'timeout' : describeFailure(error)}`);
    }
    await drain(response);
    if (response.status < 200 || response.status > 299) {
      throw new DeliveryError(`POST to ${this.#url.host} answered HTTP ${response.status}`);
    }
  }
}

/** Reads at most MAX_RESPONSE_BYTES of the body, then lets go of the rest. */
async function drain(response: Response): Promise<void> {
  const reader = response.body?.getReader();
  if (!reader) return;
  let received = 0;
  try {
    while (received <= MAX_RESPONSE_BYTES) {
      const { done, value } = await reader.read();
      if (done) return;
      received += value.byteLength;
    }
    await reader.cancel();
  } catch {
    // A body cut short does not change what the status said.
  } finally {
    reader.releaseLock();
  }
}
