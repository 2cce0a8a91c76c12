/**
 * The fetch that google-auth-library's HTTP client (gaxios) is given for one token exchange:
 * it goes through the cloud's `ctx.fetch`, only to the configured URLs (anything else is
 * refused before a byte leaves), without following redirects, and reads at most `maxBytes` of
 * each answer. Left to itself, gaxios would fetch through node-fetch, bypassing the cloud's
 * fetch and its limits.
 *
 * Failures are `OutboundError`s that say what happened (for the operator's log) in `upstream`,
 * never a header or a body: requests carry the cloud's JWT and bearer tokens.
 */
import type { UpstreamFailure } from '../../errors.js';
import { describeUrl, fetchFailure } from '../../http/upstream-failure.js';
import { readCapped } from '../../http/read-capped.js';

export class OutboundError extends Error {
  override readonly name = 'OutboundError';

  constructor(readonly upstream: UpstreamFailure) {
    super(`request to ${upstream.endpoint ?? 'an invalid URL'} failed (${upstream.failure ?? 'network'})`);
  }
}

export interface RestrictedFetchOptions {
  fetch: typeof fetch;
  /** Exact URLs that may be requested. */
  allowed: readonly string[];
  maxBytes: number;
  /** Called with each URL before it is requested, to tell which step failed. */
  onRequest?: (url: string) => void;
}

/** Statuses whose Response may not have a body. */
const NULL_BODY_STATUSES = new Set([204, 205, 304]);

function requestUrl(input: Parameters<typeof fetch>[0]): string {
  if (typeof input === 'string') return input;
  if (input instanceof URL) return input.href;
  return input.url;
}

/** A fetch limited to `allowed`, through `options.fetch`, with capped responses. */
export function createRestrictedFetch(options: RestrictedFetchOptions): typeof fetch {
  const allowed = new Set(options.allowed.map((url) => new URL(url).href));
  return async (input, init = {}) => {
    const url = URL.canParse(requestUrl(input)) ? new URL(requestUrl(input)).href : '';
    const endpoint = describeUrl(url);
    if (!allowed.has(url)) throw new OutboundError({ endpoint, failure: 'refused_url' });
    options.onRequest?.(url);
    // Only what a token request needs: gaxios hands over its whole config object as `init`.
    const { method, headers, body, signal } = init;
    let response: Response;
    try {
      response = await options.fetch(url, { method, headers, body, signal: signal ?? null, redirect: 'manual' });
    } catch (error) {
      // Our timeout (gaxios's signal) or the cloud fetch's own: both are a timeout.
      throw new OutboundError({ endpoint, ...fetchFailure(error, signal?.aborted === true) });
    }
    let bytes: Uint8Array;
    try {
      const body = await readCapped(response, options.maxBytes);
      if (body === undefined) throw new OutboundError({ endpoint, status: response.status, failure: 'too_large' });
      bytes = body;
    } catch (error) {
      if (error instanceof OutboundError) throw error;
      throw new OutboundError({ endpoint, status: response.status, failure: signal?.aborted ? 'timeout' : 'unreadable' });
    }
    const copy = NULL_BODY_STATUSES.has(response.status) ? null : (bytes as Uint8Array<ArrayBuffer>);
    return new Response(copy, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}
