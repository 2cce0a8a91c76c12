/**
 * Which URLs a provider may send to or fetch from: https, or plain http to a loopback host
 * (local token servers, tests), never with credentials in the URL. Messages name the field,
 * never the value. Shared by the trust providers' key sources, the credential providers'
 * endpoints and the `aws-iam` collector.
 */

/** Literal names that always mean this host. */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname.toLowerCase());
}

/** Parses an endpoint URL; returns the URL or the problem (naming the field, not the value). */
export function parseEndpointUrl(field: string, value: unknown): URL | string {
  if (typeof value !== 'string' || !URL.canParse(value)) return `${field} must be an absolute URL`;
  const parsed = new URL(value);
  if (parsed.username !== '' || parsed.password !== '') return `${field} must not contain credentials`;
  if (parsed.hash !== '') return `${field} must not contain a fragment`;
  if (parsed.protocol === 'https:') return parsed;
  if (parsed.protocol === 'http:' && isLoopbackHost(parsed.hostname)) return parsed;
  return `${field} must use https (http only on a loopback host)`;
}

/**
 * `undefined` when `value` is a URL the cloud may fetch key material from: https, or plain
 * http to a loopback host. Unlike `parseEndpointUrl`, a fragment is let through (a fetch never sends it).
 */
export function checkFetchUrl(value: unknown, field: string): string | undefined {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    return `${field} must be an absolute URL`;
  }
  if (url.username !== '' || url.password !== '') return `${field} must not contain credentials`;
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return undefined;
  return `${field} must use https (http only on a loopback host)`;
}
