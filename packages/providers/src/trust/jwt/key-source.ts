/**
 * Where verification keys come from. A key source belongs to one provider instance and
 * caches, per JWKS URL, one jose `createRemoteJWKSet` (a small bounded map), so keys are
 * fetched once per `cacheMaxAge` and an unknown `kid` triggers at most one refresh per
 * `cooldown`: a flood of tokens with made-up `kid`s cannot turn into a flood of fetches.
 *
 * A failed fetch (no answer, an error status, a body that is not a key set) is remembered for
 * `failureCacheMs`: meanwhile every fetch of that URL fails at once with the same error, without
 * a request, so a dead endpoint costs one connection per pause rather than one per token, and
 * keys already held keep verifying the tokens they fit.
 *
 * Every request goes through the cloud's `ctx.fetch` (jose's `customFetch`), capped in size.
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  errors,
  type FetchImplementation,
  type JWTVerifyGetKey,
  type LocalJWKSet,
  type RemoteJWKSet,
} from 'jose';
import { fetchBounded, KeySourceError, parseJsonObject } from '../../http/bounded-fetch.js';
import type { JwtKeySpec } from './config.js';
import { DiscoveryCache } from './discovery.js';
import { FailureMemory } from './failure-memory.js';

export interface JwtKeySourceOptions {
  /** Per request (JWKS and discovery), default 5000 ms. */
  timeoutMs?: number;
  /** Least time between two JWKS fetches caused by an unknown `kid`, default 30000 ms. */
  cooldownMs?: number;
  /** How long fetched keys and discovery documents are used, default 600000 ms. */
  cacheMaxAgeMs?: number;
  /** Largest JWKS response accepted, default 256 KiB. */
  maxJwksBytes?: number;
  /** Largest discovery document accepted, default 64 KiB. */
  maxDiscoveryBytes?: number;
  /** JWKS URLs (and issuers) cached at once, default 100. */
  maxEntries?: number;
  /** How long a failed JWKS or discovery fetch is answered without asking again, default 10000 ms. */
  failureCacheMs?: number;
}

export interface JwtKeySource {
  /** A jose key resolver for `spec`, fetching with `fetchImpl` (the cloud's) when it must. */
  resolver(spec: JwtKeySpec, fetchImpl: typeof fetch): JWTVerifyGetKey;
}

/** Options of the built-in JWT trust provider factories. */
export interface JwtTrustProviderOptions {
  /** Key cache of this instance; each instance has its own by default. */
  keySource?: JwtKeySource;
}

interface RemoteSettings {
  timeoutMs: number;
  cooldownMs: number;
  cacheMaxAgeMs: number;
  maxJwksBytes: number;
  failureCacheMs: number;
}

/** One cached remote JWKS. Its requests go through the cloud's fetch, capped in size. */
class RemoteEntry {
  /** The cloud's fetch of the latest call: the cached set outlives any single call. */
  fetch: typeof fetch;
  readonly jwks: RemoteJWKSet;
  readonly #failures: FailureMemory;

  constructor(url: string, fetchImpl: typeof fetch, settings: RemoteSettings) {
    this.fetch = fetchImpl;
    this.#failures = new FailureMemory(settings.failureCacheMs);
    // jose passes its own timeout signal; the body is re-wrapped so jose parses a capped copy.
    const boundedFetch: FetchImplementation = (target, init) =>
      this.#failures.guard(async () => {
        const body = await fetchBounded(target, init.headers, { fetch: this.fetch, what: 'JWKS', maxBytes: settings.maxJwksBytes, signal: init.signal });
        // Checked here, not only by jose, so that a broken answer is remembered like a missing one.
        if (!Array.isArray(parseJsonObject(body, 'JWKS').keys)) throw new KeySourceError('JWKS response is not a valid key set');
        return new Response(body as Uint8Array<ArrayBuffer>, { status: 200, headers: { 'content-type': 'application/json' } });
      });
    this.jwks = createRemoteJWKSet(new URL(url), {
      timeoutDuration: settings.timeoutMs,
      cooldownDuration: settings.cooldownMs,
      cacheMaxAge: settings.cacheMaxAgeMs,
      [customFetch]: boundedFetch,
    });
  }
}

/** Moves `key` to the end of the map (most recent) and drops the oldest beyond `max`. */
function touch<V>(map: Map<string, V>, key: string, value: V, max: number): V {
  map.delete(key);
  map.set(key, value);
  for (const oldest of map.keys()) {
    if (map.size <= max) break;
    map.delete(oldest);
  }
  return value;
}

/** jose's JWKS failures that are the endpoint's fault, said without the token. */
function keyEndpointError(error: unknown): KeySourceError {
  if (error instanceof KeySourceError) return error;
  if (error instanceof errors.JWKSTimeout) return new KeySourceError('JWKS request timed out');
  if (error instanceof errors.JWKSInvalid) return new KeySourceError('JWKS response is not a valid key set');
  if (error instanceof errors.JOSEError && /parse/i.test(error.message)) return new KeySourceError('JWKS response is not valid JSON');
  return new KeySourceError('JWKS could not be loaded');
}

/** Errors that say the token does not fit the keys, as opposed to the keys being unavailable. */
function isTokenKeyMismatch(error: unknown): boolean {
  return (
    error instanceof errors.JWKSNoMatchingKey ||
    error instanceof errors.JWKSMultipleMatchingKeys ||
    error instanceof errors.JOSENotSupported
  );
}

export function createJwtKeySource(options: JwtKeySourceOptions = {}): JwtKeySource {
  const settings: RemoteSettings = {
    timeoutMs: options.timeoutMs ?? 5000,
    cooldownMs: options.cooldownMs ?? 30_000,
    cacheMaxAgeMs: options.cacheMaxAgeMs ?? 600_000,
    maxJwksBytes: options.maxJwksBytes ?? 256 * 1024,
    failureCacheMs: options.failureCacheMs ?? 10_000,
  };
  const maxEntries = options.maxEntries ?? 100;
  const remotes = new Map<string, RemoteEntry>();
  const inline = new Map<string, LocalJWKSet>();
  const discovery = new DiscoveryCache({
    maxAgeMs: settings.cacheMaxAgeMs,
    maxBytes: options.maxDiscoveryBytes ?? 64 * 1024,
    timeoutMs: settings.timeoutMs,
    maxEntries,
    failureCacheMs: settings.failureCacheMs,
    now: Date.now,
  });

  function remoteFor(url: string, fetchImpl: typeof fetch): RemoteJWKSet {
    const entry = remotes.get(url) ?? new RemoteEntry(url, fetchImpl, settings);
    entry.fetch = fetchImpl;
    return touch(remotes, url, entry, maxEntries).jwks;
  }

  function inlineFor(spec: Extract<JwtKeySpec, { kind: 'inline' }>): LocalJWKSet {
    const cacheKey = JSON.stringify(spec.jwks);
    const existing = inline.get(cacheKey);
    if (existing !== undefined) return touch(inline, cacheKey, existing, maxEntries);
    try {
      return touch(inline, cacheKey, createLocalJWKSet(spec.jwks), maxEntries);
    } catch {
      throw new KeySourceError('inline jwks is not a valid key set');
    }
  }

  async function jwksUrl(spec: Exclude<JwtKeySpec, { kind: 'inline' }>, fetchImpl: typeof fetch): Promise<string> {
    return spec.kind === 'jwks-uri' ? spec.url : discovery.jwksUri(spec.issuer, spec.documentUrl, fetchImpl);
  }

  return {
    resolver(spec, fetchImpl) {
      return async (header, token) => {
        try {
          if (spec.kind === 'inline') return await inlineFor(spec)(header, token);
          return await remoteFor(await jwksUrl(spec, fetchImpl), fetchImpl)(header, token);
        } catch (error) {
          if (isTokenKeyMismatch(error)) throw error;
          if (spec.kind === 'inline' && !(error instanceof KeySourceError)) throw new KeySourceError('inline jwks holds a key that cannot be used');
          throw keyEndpointError(error);
        }
      };
    },
  };
}
