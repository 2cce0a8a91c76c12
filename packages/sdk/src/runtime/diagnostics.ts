import diagnostics from 'node:diagnostics_channel';

/**
 * `diagnostics_channel` channels the SDK publishes on. Messages carry names, ids, times and
 * outcomes — never an edge token, a credential, evidence or a query string.
 *
 * - `tessera:attest`: `{ clientWorkload, collector, targets, expiresAt }` or `{ error }`.
 * - `tessera:credential`: a credential was fetched from the cloud (not a cache hit):
 *   `{ serverWorkload, policyId, expiresAt, durationMs }`.
 * - `tessera:request:denied`: `{ target, reason, error }` — the request was not sent.
 * - `tessera:request:finished`: `{ target, serverWorkload, statusCode, latencyMs, outcome }`.
 * - `tessera:fail-open`: `{ target, error }` — sent without a credential (`failMode: 'open'`).
 */
export const channels = {
  attest: diagnostics.channel('tessera:attest'),
  credential: diagnostics.channel('tessera:credential'),
  denied: diagnostics.channel('tessera:request:denied'),
  finished: diagnostics.channel('tessera:request:finished'),
  failOpen: diagnostics.channel('tessera:fail-open'),
} as const;

/** `scheme://host:port/path`, the query cut off (a query-injected credential lives there). */
export function describeTarget(target: { scheme: string; host: string; port: number; path?: string }): string {
  const host = target.host.includes(':') && !target.host.startsWith('[') ? `[${target.host}]` : target.host;
  const path = (target.path ?? '/').split(/[?#]/, 1)[0] || '/';
  return `${target.scheme}://${host}:${target.port}${path}`;
}
