import type { IncomingMessage } from 'node:http';
import type { Dispatcher } from 'undici';
import { loadUndici } from '../load-undici.js';

/**
 * How the SDK reaches the cloud: one JSON POST at a time. Behind this interface so tests can
 * wrap it (count calls, inject faults) while still talking to a real server.
 *
 * The default connects with an agent of its own, never the application's global one (which the
 * SDK's interceptors manage: a cloud call must not intercept itself), made at the first call.
 * When `HTTPS_PROXY` / `HTTP_PROXY` name a proxy, that is an undici `EnvHttpProxyAgent`: the
 * calls go through the proxy, except to the hosts `NO_PROXY` lists, as in networks whose egress
 * passes a proxy. Without them it is a keep-alive agent of `node:http(s)`, which the process has
 * loaded anyway: npm undici (about a hundred modules) is then not loaded for the SDK at all.
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
  let send: Send | undefined;
  let closed = false;
  const maxBytes = options.maxResponseBytes ?? MAX_RESPONSE_BYTES;

  return {
    async post(request) {
      if (closed) throw new TransportError('the connection to the cloud is closed', false);
      send ??= proxyNamed(process.env) ? viaUndici(base, maxBytes) : viaNodeHttp(base, maxBytes);
      const payload = Buffer.from(JSON.stringify(request.body), 'utf8');
      const headers = { ...request.headers, 'content-type': 'application/json', accept: 'application/json' };
      // Bounds the whole exchange, connection and proxy tunnel included.
      const timeout = new AbortController();
      const timer = setTimeout(() => timeout.abort(new TransportError(`no answer within ${request.timeoutMs} ms`, true)), request.timeoutMs);
      timer.unref();
      try {
        return await send.post(`${prefix}${request.path}`, headers, payload, timeout.signal);
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
      send?.close();
    },
  };
}

/** One way of sending: the POST itself, and the agent to close. */
interface Send {
  post(path: string, headers: Record<string, string>, payload: Buffer, signal: AbortSignal): Promise<CloudResponse>;
  close(): void;
}

/** Whether the environment names a proxy (undici's EnvHttpProxyAgent reads the same variables). */
function proxyNamed(env: NodeJS.ProcessEnv): boolean {
  return [env.HTTP_PROXY, env.http_proxy, env.HTTPS_PROXY, env.https_proxy].some((value) => value !== undefined && value !== '');
}

function viaUndici(base: URL, maxBytes: number): Send {
  const agent: Dispatcher = new (loadUndici().EnvHttpProxyAgent)({ connections: 16, maxHeaderSize: MAX_HEADER_BYTES });
  return {
    async post(path, headers, payload, signal) {
      const response = await agent.request({ origin: base.origin, path, method: 'POST', headers, body: payload, signal });
      const text = await readCapped(response.body, maxBytes);
      const retryAfter = response.headers['retry-after'];
      return { status: response.statusCode, body: parseJson(text), ...(typeof retryAfter === 'string' ? { retryAfter } : {}) };
    },
    close() {
      void agent.destroy().catch(() => {});
    },
  };
}

function viaNodeHttp(base: URL, maxBytes: number): Send {
  const secure = base.protocol === 'https:';
  const client = secure ? process.getBuiltinModule('node:https') : process.getBuiltinModule('node:http');
  const agent = new client.Agent({ keepAlive: true, maxSockets: 16 });
  const hostname = base.hostname.replace(/^\[|\]$/g, ''); // an IPv6 literal without its brackets
  const port = base.port === '' ? (secure ? 443 : 80) : Number(base.port);
  return {
    async post(path, headers, payload, signal) {
      const response = await new Promise<IncomingMessage>((resolve, reject) => {
        const request = client.request(
          { hostname, port, path, method: 'POST', agent, signal, maxHeaderSize: MAX_HEADER_BYTES, headers: { ...headers, 'content-length': String(payload.length) } },
          resolve,
        );
        request.on('error', reject);
        request.end(payload);
      });
      let text: string;
      try {
        text = await readCapped(response, maxBytes);
      } catch (error) {
        if (error instanceof TransportError || signal.aborted) throw error;
        throw new TransportError('the connection closed before the answer ended', true, { cause: error });
      }
      const retryAfter = response.headers['retry-after'];
      return { status: response.statusCode ?? 0, body: parseJson(text), ...(typeof retryAfter === 'string' ? { retryAfter } : {}) };
    },
    close() {
      agent.destroy();
    },
  };
}

/** The answer's body as text, refused past `maxBytes` (the stream is destroyed then). */
async function readCapped(body: AsyncIterable<unknown> & { destroy(): unknown }, maxBytes: number): Promise<string> {
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
