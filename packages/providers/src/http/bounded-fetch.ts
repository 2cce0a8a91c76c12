/**
 * One outbound GET for key material (a JWKS or a discovery document) through the cloud's
 * fetch: 200 only, no redirects (the configured URL is the only one fetched), and a body
 * size cap enforced while reading, so a hostile endpoint cannot make the cloud buffer
 * megabytes. Failures become `KeySourceError`, which `verifyJwt` reports as
 * `trust_provider_error`: the fault is the key endpoint's, not the token's.
 */
import { readCapped } from './read-capped.js';
import { describeUrl } from './upstream-failure.js';

/** Internal: a key endpoint failed. Its message names the endpoint's origin, never a token. */
export class KeySourceError extends Error {
  override readonly name = 'KeySourceError';
}

export interface BoundedFetchOptions {
  fetch: typeof fetch;
  /** What is fetched, for messages: `JWKS`, `discovery document`. */
  what: string;
  maxBytes: number;
  signal: AbortSignal;
}

export { describeUrl };

/** GETs `url` and returns its body, or throws `KeySourceError`. */
export async function fetchBounded(url: string, headers: Headers | Record<string, string>, options: BoundedFetchOptions): Promise<Uint8Array> {
  const { what, maxBytes, signal } = options;
  const where = describeUrl(url);
  try {
    const response = await options.fetch(url, { method: 'GET', headers, redirect: 'manual', signal });
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => undefined);
      throw new KeySourceError(`${what} request to ${where} failed: HTTP ${response.status}`);
    }
    const declared = Number(response.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > maxBytes) {
      await response.body?.cancel().catch(() => undefined);
      throw new KeySourceError(`${what} response too large (over ${maxBytes} bytes)`);
    }
    const body = await readCapped(response, maxBytes);
    if (body === undefined) throw new KeySourceError(`${what} response too large (over ${maxBytes} bytes)`);
    return body;
  } catch (error) {
    if (error instanceof KeySourceError) throw error;
    if (signal.aborted) throw new KeySourceError(`${what} request to ${where} timed out`);
    throw new KeySourceError(`${what} request to ${where} failed: network error`);
  }
}

/** Parses a fetched body as a JSON object, or throws `KeySourceError`. */
export function parseJsonObject(body: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    throw new KeySourceError(`${what} response is not valid JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KeySourceError(`${what} response is not a JSON object`);
  }
  return value as Record<string, unknown>;
}
