import type { Dispatcher } from 'undici';
import { loadUndici } from '../load-undici.js';

/**
 * How the SDK reaches the cloud: one JSON POST at a time. Behind this interface so tests can
 * wrap it (count calls, inject faults) while still talking to a real server.
 *
 * The default is an undici `EnvHttpProxyAgent` of its own: the SDK's calls go through the proxy
 * that `HTTPS_PROXY` / `HTTP_PROXY` name (except for the hosts `NO_PROXY` lists), as in networks
 * whose egress passes a proxy; without those variables it connects directly. It is never the
 * global dispatcher, which the SDK's interceptors manage: a cloud call must not intercept itself.
 * It is made at the first call, so that loading the SDK does not load undici for it.
 */
export interface CloudRequest {
  /** Path under the cloud URL, e.g. `/edge/v1/attest`. */
  path: string;
  headers: Record<string, string>;
  body: unknown;
  timeoutMs: number;
}

export interface CloudResponse {
  status: number;
  /** Parsed JSON, or `undefined` when the body was empty or not JSON. */
  body: unknown;
  /** Raw `Retry-After` header, when present (429, 503). */
  retryAfter?: string;
}

export interface CloudTransport {
  post(request: CloudRequest): Promise<CloudResponse>;
  close(): void;
}

/** No answer: connection refused or reset, DNS, timeout. Carries no request data. */
export class TransportError extends Error {
  override name = 'TransportError';
  constructor(
    message: string,
    /** Whether trying again may help (network trouble yes, an oversized answer no). */
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const MAX_RESPONSE_BYTES = 1024 * 1024;

/**
 * The header limit for the cloud's answers (Node's default). Set explicitly: Node's
 * `--max-http-header-size` is the application's limit for its own traffic, not the SDK's.
 */
const MAX_HEADER_BYTES = 16 * 1024;

export interface HttpTransportOptions {
  /** The cloud's URL (its issuer), possibly with a path prefix. */
  cloudUrl: string;
  maxResponseBytes?: number;
}

export function createHttpTransport(options: HttpTransportOptions): CloudTransport {
  const base = new URL(options.cloudUrl);
  const prefix = base.pathname.replace(/\/+$/, '');
  let agent: Dispatcher | undefined;
  let closed = false;
  const maxBytes = options.maxResponseBytes ?? MAX_RESPONSE_BYTES;

  return {
    async post(request) {
      if (closed) throw new TransportError('the connection to the cloud is closed', false);
      agent ??= new (loadUndici().EnvHttpProxyAgent)({ connections: 16, maxHeaderSize: MAX_HEADER_BYTES });
      const payload = Buffer.from(JSON.stringify(request.body), 'utf8');
      // Bounds the whole exchange, connection and proxy tunnel included.
      const timeout = new AbortController();
      const timer = setTimeout(() => timeout.abort(new TransportError(`no answer within ${request.timeoutMs} ms`, true)), request.timeoutMs);
      timer.unref();
      try {
        const response = await agent.request({
          origin: base.origin,
          path: `${prefix}${request.path}`,
          method: 'POST',
          headers: { ...request.headers, 'content-type': 'application/json', accept: 'application/json' },
          body: payload,
          signal: timeout.signal,
        });
        const text = await readCapped(response.body, maxBytes);
        const retryAfter = response.headers['retry-after'];
        return { status: response.statusCode, body: parseJson(text), ...(typeof retryAfter === 'string' ? { retryAfter } : {}) };
      } catch (error) {
        if (timeout.signal.aborted) throw timeout.signal.reason as TransportError;
        if (error instanceof TransportError) throw error;
        throw new TransportError(describeNetworkError(error), true, { cause: error });
      } finally {
        clearTimeout(timer);
      }
    },
    close() {
      closed = true;
      void agent?.destroy().catch(() => {});
    },
  };
}

async function readCapped(body: Dispatcher.ResponseData['body'], maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      body.destroy();
      throw new TransportError(`the answer exceeds ${maxBytes} bytes`, false);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Node's and undici's network errors name the address and the errno, never the request's
 * headers. undici's own messages are generic ("fetch failed", "other side closed"): the code
 * of the error, or of its cause, says what happened.
 */
function describeNetworkError(error: unknown): string {
  const codes: string[] = [];
  let message = error instanceof Error ? error.message : 'network error';
  for (let current = error, depth = 0; current instanceof Error && depth < 4; current = current.cause, depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && !message.includes(code) && !codes.includes(code)) codes.push(code);
    if (depth > 0 && current.message && !message.includes(current.message)) message = `${message}: ${current.message}`;
  }
  return codes.length > 0 ? `${message} (${codes.join(', ')})` : message;
}
