/**
 * The HTTP client @azure/identity (and MSAL beneath it) uses for every call of one credential:
 * it sends them through the control plane's `fetch` and only to the configured authority's
 * origin. MSAL reads endpoints from the authority's discovery document and may be told, by
 * environment variables, to use a regional host or an instance-discovery service; none of that
 * can make the client assertion (or anything else) leave for another host.
 *
 * Types are derived from @azure/identity's own declarations (type-only imports), so nothing of
 * the Azure SDK is loaded until a credential is actually built.
 */
import type { ClientAssertionCredentialOptions } from '@azure/identity';
import type { UpstreamFailure } from '../../errors.js';
import { readCapped } from '../../http/read-capped.js';
import { fetchFailure } from '../../http/upstream-failure.js';

type AzureHttpClient = NonNullable<ClientAssertionCredentialOptions['httpClient']>;
type AzurePipelineRequest = Parameters<AzureHttpClient['sendRequest']>[0];
type AzurePipelineResponse = Awaited<ReturnType<AzureHttpClient['sendRequest']>>;
type AzureHttpHeaders = AzurePipelineResponse['headers'];

/** Entra's answers are small JSON documents; anything larger is refused. */
export const MAX_AUTHORITY_RESPONSE_BYTES = 256 * 1024;

/** A transport failure, said without the request body (which holds the client assertion). */
export class AuthorityRequestError extends Error {
  override readonly name = 'AuthorityRequestError';

  constructor(
    message: string,
    /** What happened, for the operator's log. */
    readonly upstream: UpstreamFailure,
  ) {
    super(message);
  }
}

export interface AuthorityClientOptions {
  /** The only origin requests may go to, e.g. `https://login.microsoftonline.com`. */
  authorityOrigin: string;
  timeoutMs: number;
  /** The control plane's fetch, read at each request: a cached credential outlives any one call. */
  fetch: () => typeof fetch;
  /** Told about each transport failure, so the provider can report it (MSAL drops the cause). */
  onFailure?: (error: AuthorityRequestError) => void;
}

/** Response headers in the shape the Azure pipeline reads. */
class ResponseHeaders implements AzureHttpHeaders {
  readonly #entries = new Map<string, { name: string; value: string }>();

  constructor(headers: Headers) {
    headers.forEach((value, name) => this.#entries.set(name.toLowerCase(), { name, value }));
  }

  get(name: string): string | undefined {
    return this.#entries.get(name.toLowerCase())?.value;
  }

  has(name: string): boolean {
    return this.#entries.has(name.toLowerCase());
  }

  set(name: string, value: string | number | boolean): void {
    this.#entries.set(name.toLowerCase(), { name, value: String(value) });
  }

  delete(name: string): void {
    this.#entries.delete(name.toLowerCase());
  }

  toJSON(options: { preserveCase?: boolean } = {}): Record<string, string> {
    const json: Record<string, string> = {};
    for (const [key, { name, value }] of this.#entries) json[options.preserveCase === true ? name : key] = value;
    return json;
  }

  *[Symbol.iterator](): IterableIterator<[string, string]> {
    for (const [key, { value }] of this.#entries) yield [key, value];
  }
}

/** MSAL sends form strings; anything else (streams, forms, blobs) is not expected here. */
function requestBody(body: AzurePipelineRequest['body']): string | Uint8Array | undefined | false {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  return false;
}

/** An @azure/core-rest-pipeline `HttpClient` bound to one authority origin. */
export function createAuthorityHttpClient(options: AuthorityClientOptions): AzureHttpClient {
  const fail = (message: string, upstream: UpstreamFailure): AuthorityRequestError => {
    const error = new AuthorityRequestError(message, upstream);
    options.onFailure?.(error);
    return error;
  };
  return {
    async sendRequest(request: AzurePipelineRequest): Promise<AzurePipelineResponse> {
      let url: URL;
      try {
        url = new URL(request.url);
      } catch {
        throw fail('request to an invalid URL refused', { failure: 'refused_url' });
      }
      // Origin and path only in messages: a query might carry something not meant for logs.
      const where = `${url.origin}${url.pathname}`;
      if (url.origin !== options.authorityOrigin || url.username !== '' || url.password !== '') {
        throw fail(`request to ${url.origin} refused: only the configured authorityHost ${options.authorityOrigin} may be called`, { endpoint: where, failure: 'refused_url' });
      }
      const headers = new Headers();
      for (const [name, value] of request.headers) headers.set(name, value);
      const timeout = AbortSignal.timeout(options.timeoutMs);
      // The pipeline's signal is an AbortSignal in Node; anything else is not combinable.
      const callerSignal = request.abortSignal instanceof AbortSignal ? request.abortSignal : undefined;
      const signal = callerSignal === undefined ? timeout : AbortSignal.any([timeout, callerSignal]);
      const body = requestBody(request.body);
      if (body === false) throw fail(`request to ${where} refused: unsupported body type`, { endpoint: where, failure: 'refused_url' });
      let response: Response;
      try {
        response = await options.fetch()(url.href, {
          method: request.method,
          headers,
          ...(body === undefined ? {} : { body }),
          redirect: 'manual', // a redirect is answered as is; the pipeline's next hop meets the origin check
          signal,
        });
      } catch (error) {
        if (timeout.aborted) throw fail(`request to ${where} timed out after ${options.timeoutMs} ms`, { endpoint: where, failure: 'timeout' });
        if (callerSignal?.aborted === true) throw fail(`request to ${where} aborted`, { endpoint: where, failure: 'timeout' });
        throw fail(`request to ${where} failed: network error`, { endpoint: where, ...fetchFailure(error, false) });
      }
      let text: string;
      try {
        text = await readText(response, MAX_AUTHORITY_RESPONSE_BYTES, where);
      } catch (error) {
        if (error instanceof AuthorityRequestError) throw fail(error.message, error.upstream);
        throw fail(`reading the response from ${where} failed`, { endpoint: where, status: response.status, failure: 'unreadable' });
      }
      return { request, status: response.status, headers: new ResponseHeaders(response.headers), bodyAsText: text };
    },
  };
}

async function readText(response: Response, limit: number, where: string): Promise<string> {
  const body = await readCapped(response, limit);
  if (body === undefined) {
    throw new AuthorityRequestError(`response from ${where} too large (over ${limit} bytes)`, { endpoint: where, status: response.status, failure: 'too_large' });
  }
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
}
