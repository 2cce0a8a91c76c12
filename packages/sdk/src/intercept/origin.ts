import { defaultPort, normalizeHost } from '../directory/target.js';
import type { OutgoingRequest } from '../runtime/gate.js';

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

/**
 * What an undici request targets, as the gate sees it. A request to a forward proxy names its
 * real target in absolute form (`GET http://api.example.com/v1` sent to the proxy's origin):
 * that target is the one looked up, never the proxy. `undefined` for a `CONNECT` (a tunnel: the
 * requests inside it are announced with their own origin) and for anything not HTTP(S).
 */
export function requestTarget(origin: string | URL, path: string | undefined, method: string): OutgoingRequest | undefined {
  if (method === 'CONNECT') return undefined;
  let requestPath = path || '/';
  let target: Origin | undefined;
  if (requestPath.startsWith('http://') || requestPath.startsWith('https://')) {
    // Absolute form: the authority ends at the first '/', '?' or '#' after the scheme.
    const start = requestPath.indexOf('//') + 2;
    let end = requestPath.length;
    for (const mark of ['/', '?', '#']) {
      const at = requestPath.indexOf(mark, start);
      if (at >= 0 && at < end) end = at;
    }
    target = parseOrigin(requestPath.slice(0, end));
    const rest = requestPath.slice(end);
    requestPath = rest.startsWith('/') ? rest : `/${rest}`;
  } else {
    target = parseOrigin(origin);
  }
  if (target === undefined) return undefined;
  return { scheme: target.scheme, host: target.host, port: target.port, path: requestPath, method };
}
