import { normalizeHost } from '../directory/target.js';
import type { OutgoingRequest } from '../runtime/gate.js';
import type { Http2Headers } from './http2-headers.js';

/** Where an HTTP/2 session is connected, or what a request names. */
export type Origin = Pick<OutgoingRequest, 'scheme' | 'host' | 'port'>;

/** What a request targets: `target` is what it names, `peer` the session's origin when that differs. */
export interface Described {
  target: OutgoingRequest;
  peer: OutgoingRequest | undefined;
  /** The origin named, for messages. */
  named: string;
}

/**
 * The origin Node's `connect()` makes of its arguments: the default `:authority` of its requests
 * and, for TLS, the name the server's certificate was checked against (`servername`).
 */
export function sessionOrigin(authority: unknown, options: Record<string, unknown>): Origin {
  const url = (typeof authority === 'string' ? new URL(authority) : authority) as Partial<Record<'protocol' | 'hostname' | 'host' | 'port', string>>;
  const protocol = url.protocol || (typeof options.protocol === 'string' ? options.protocol : '') || 'https:';
  const port = url.port ? Number(url.port) : url.protocol === 'http:' ? 80 : 443;
  let host = url.hostname || url.host || 'localhost';
  if (host.startsWith('[')) host = host.slice(1, -1);
  if (typeof options.servername === 'string' && options.servername !== '') host = options.servername;
  return { scheme: protocol.slice(0, -1), host: normalizeHost(host), port };
}

/** The target a request names; `undefined` for what is left to Node (CONNECT tunnels, headers Node refuses). */
export function describe(origin: Origin, headers: Http2Headers | undefined): Described | undefined {
  const pseudo: Record<string, unknown> = Object.create(null);
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const name = headers[i];
      if (typeof name === 'string' && name.charCodeAt(0) === 58 /* : */) pseudo[name.toLowerCase()] = headers[i + 1];
    }
  } else if (headers !== undefined && headers !== null) {
    if (typeof headers !== 'object') return undefined;
    const object = headers as Record<string, unknown>;
    for (const name of [':method', ':scheme', ':authority', ':path', ':protocol']) pseudo[name] = object[name];
    pseudo[':authority'] ??= object.host;
  }
  const method = pseudo[':method'] === undefined ? 'GET' : String(pseudo[':method']).toUpperCase();
  if (method === 'CONNECT' && pseudo[':protocol'] === undefined) return undefined; // a tunnel
  const path = pseudo[':path'] === undefined ? '/' : String(pseudo[':path']);
  const scheme = pseudo[':scheme'] === undefined ? origin.scheme : String(pseudo[':scheme']);
  const authority = pseudo[':authority'] === undefined ? undefined : String(pseudo[':authority']);
  const session: OutgoingRequest = { ...origin, path, method };
  if (authority === undefined && scheme === origin.scheme) return { target: session, peer: undefined, named: '' };
  const named = readAuthority(scheme, authority ?? `${origin.host}:${origin.port}`);
  // An authority that does not parse names no origin: only the session's can be looked up.
  if (named === undefined) return { target: session, peer: session, named: `${scheme}://${authority}` };
  const same = named.scheme === origin.scheme && named.host === origin.host && named.port === origin.port;
  return { target: { ...named, path, method }, peer: same ? undefined : session, named: `${named.scheme}://${named.host}:${named.port}` };
}

function readAuthority(scheme: string, authority: string): Origin | undefined {
  if (scheme !== 'http' && scheme !== 'https') return undefined;
  const url = URL.parse(`${scheme}://${authority}`);
  if (url === null || url.username !== '' || url.password !== '' || url.pathname !== '/' || url.search !== '' || url.hash !== '') return undefined;
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { scheme, host: normalizeHost(host), port: url.port === '' ? (scheme === 'https' ? 443 : 80) : Number(url.port) };
}
