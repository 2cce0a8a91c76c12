import { defaultPort, normalizeHost } from '../directory/target.js';

export interface Origin {
  scheme: string;
  host: string;
  port: number;
}

/**
 * undici hands every request its origin as a string (`https://api.example.com:8443`) or a URL.
 * An application talks to few origins, so parsed origins are kept in a small map: the per-request
 * cost of an unmanaged request stays one map read instead of a URL parse.
 */
const parsed = new Map<string, Origin | null>();
const MAX_CACHED_ORIGINS = 1024;

export function parseOrigin(origin: string | URL): Origin | undefined {
  if (typeof origin !== 'string') return fromUrl(origin) ?? undefined;
  const cached = parsed.get(origin);
  if (cached !== undefined) return cached ?? undefined;
  let result: Origin | null = null;
  const url = URL.parse(origin);
  if (url !== null) result = fromUrl(url);
  if (parsed.size >= MAX_CACHED_ORIGINS) parsed.clear(); // an app with endless origins: start over
  parsed.set(origin, result);
  return result ?? undefined;
}

function fromUrl(url: URL): Origin | null {
  const scheme = url.protocol.slice(0, -1);
  if (scheme !== 'http' && scheme !== 'https') return null;
  return { scheme, host: normalizeHost(url.hostname), port: url.port === '' ? defaultPort(scheme) : Number(url.port) };
}
