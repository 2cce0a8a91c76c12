import http from 'node:http';
import https from 'node:https';

/**
 * How the SDK reaches the cloud: one JSON POST at a time. Behind this interface so tests can
 * wrap it (count calls, inject faults) while still talking to a real server.
 *
 * The default goes through `node:http(s)` with its own keep-alive agent, never the global fetch
 * dispatcher, which the SDK's interceptors manage: a cloud call must not intercept itself.
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
  const base = options.cloudUrl.replace(/\/+$/, '');
  const secure = base.startsWith('https:');
  const agent = secure ? new https.Agent({ keepAlive: true, maxSockets: 16 }) : new http.Agent({ keepAlive: true, maxSockets: 16 });
  const maxBytes = options.maxResponseBytes ?? MAX_RESPONSE_BYTES;

  return {
    post(request) {
      const payload = Buffer.from(JSON.stringify(request.body), 'utf8');
      const headers = {
        ...request.headers,
        'content-type': 'application/json',
        'content-length': String(payload.length),
        accept: 'application/json',
      };
      return new Promise<CloudResponse>((resolve, reject) => {
        const send = secure ? https.request : http.request;
        const req = send(`${base}${request.path}`, { method: 'POST', agent, headers, timeout: request.timeoutMs, maxHeaderSize: MAX_HEADER_BYTES });
        // `timeout` only watches idle sockets; this bounds the whole exchange.
        const timer = setTimeout(() => req.destroy(new TransportError(`no answer within ${request.timeoutMs} ms`, true)), request.timeoutMs);
        timer.unref();
        let settled = false;
        const fail = (error: unknown) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          reject(error instanceof TransportError ? error : new TransportError(describeNetworkError(error), true, { cause: error }));
        };
        req.on('timeout', () => req.destroy(new TransportError(`no answer within ${request.timeoutMs} ms`, true)));
        req.on('error', fail);
        req.on('response', (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > maxBytes) {
              fail(new TransportError(`the answer exceeds ${maxBytes} bytes`, false));
              res.destroy();
              return;
            }
            chunks.push(chunk);
          });
          res.on('error', fail);
          res.on('end', () => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            const retryAfter = res.headers['retry-after'];
            resolve({
              status: res.statusCode ?? 0,
              body: parseJson(Buffer.concat(chunks).toString('utf8')),
              ...(typeof retryAfter === 'string' ? { retryAfter } : {}),
            });
          });
        });
        req.end(payload);
      });
    },
    close() {
      agent.destroy();
    },
  };
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Node's network errors name the address and the errno, never the request's headers. */
function describeNetworkError(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  const message = error instanceof Error ? error.message : 'network error';
  return typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message;
}
