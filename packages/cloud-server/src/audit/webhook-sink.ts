import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { AuditEvent } from '../store/types.js';
import type { DestinationGuard } from '../egress/destination-guard.js';
import { DeliveryError, backoffDelay, describeFailure, sleep, type AuditSink, type DeliveryFailure } from './sink.js';

export interface WebhookSinkOptions {
  url: string;
  /** Sent as the `authorization` header when set (the stream's sealed secret). */
  authorization?: string;
  batchSize: number;
  timeoutMs: number;
  /** Decides which addresses a connection may go to; checked again on every new connection. */
  guard: DestinationGuard;
  /** Called after each failed attempt, before waiting `delayMs` (for status and logs). */
  onFailure?: (failure: DeliveryFailure) => void;
  // Test seams.
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
  readonly #agent: http.Agent;
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<void>;

  constructor(private readonly options: WebhookSinkOptions) {
    const url = URL.parse(options.url);
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) throw new DeliveryError('url is not an http(s) URL');
    // They would be sent as Basic credentials and could surface in messages: the authorization secret is the place.
    if (url.username !== '' || url.password !== '') {
      throw new DeliveryError('url must not contain credentials; set the authorization secret instead');
    }
    // A URL stored before the rule, or allowed before the operator changed the allow-list.
    const refused = options.guard.checkUrl(url);
    if (refused) throw new DeliveryError(refused);
    this.#url = url;
    this.batchSize = options.batchSize;
    // Every new connection resolves through the guard; kept-alive ones stay with the address checked.
    const agentOptions = { keepAlive: true, lookup: options.guard.lookup };
    this.#agent = url.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    this.#sleep = options.sleep ?? sleep;
  }

  async deliver(events: readonly AuditEvent[], signal: AbortSignal): Promise<void> {
    for (let start = 0; start < events.length; start += this.batchSize) {
      await this.#deliverBatch(events.slice(start, start + this.batchSize), signal);
    }
  }

  async close(): Promise<void> {
    this.#agent.destroy();
  }

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
    const headers: Record<string, string> = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) };
    if (this.options.authorization !== undefined) headers.authorization = this.options.authorization;
    // Not tied to the stop signal: shutdown waits for this attempt, bounded by the timeout.
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    let status: number;
    try {
      // A connection to an IP literal never asks the lookup: check the address here.
      const host = this.#url.hostname.replace(/^\[(.*)\]$/, '$1');
      if (isIP(host) !== 0) await this.options.guard.addressesOf(host);
      status = await post(this.#url, { headers, body, agent: this.#agent, signal: timeout });
    } catch (error) {
      throw new DeliveryError(`POST to ${this.#url.host} failed: ${timeout.aborted ? 'timeout' : describeFailure(error)}`);
    }
    if (status < 200 || status > 299) {
      throw new DeliveryError(`POST to ${this.#url.host} answered HTTP ${status}`);
    }
  }
}

/**
 * One POST; resolves with the status once at most MAX_RESPONSE_BYTES of the answer are read (the
 * rest is not: a large answer must not hold the stream up). Redirects are not followed.
 */
function post(url: URL, options: { headers: Record<string, string>; body: string; agent: http.Agent; signal: AbortSignal }): Promise<number> {
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.request(url, { method: 'POST', headers: options.headers, agent: options.agent, signal: options.signal }, (response) => {
      const status = response.statusCode ?? 0;
      let received = 0;
      response.on('data', (chunk: Buffer) => {
        received += chunk.byteLength;
        if (received > MAX_RESPONSE_BYTES) {
          response.destroy();
          resolve(status);
        }
      });
      response.on('end', () => resolve(status));
      // A body cut short does not change what the status said.
      response.on('error', () => resolve(status));
      response.on('close', () => resolve(status));
    });
    request.on('error', reject);
    request.end(options.body);
  });
}
