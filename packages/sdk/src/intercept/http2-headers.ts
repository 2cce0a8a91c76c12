import http2, { type OutgoingHttpHeaders } from 'node:http2';
import { STREAMED_BODY } from '../inject/sigv4.js';
import type { Grant, OutgoingRequest } from '../runtime/gate.js';
import { toHeaderRecord } from './header-record.js';
import { credentialPlacement, signForGrant } from './credential-placement.js';

/** Request headers as `session.request()` takes them: an object, or a flat `[name, value, ...]` array. */
export type Http2Headers = OutgoingHttpHeaders | readonly string[];

/**
 * The caller's headers with a header, basic or query credential placed, in the representation
 * given (the caller's own object or array is not changed). The credential header — lower-case,
 * as HTTP/2 requires — replaces any header of that name and is marked sensitive, so HPACK never
 * keeps it in a compression table; a query credential rewrites `:path`.
 */
export function withCredential(headers: Http2Headers | undefined, grant: Grant, path: string): Http2Headers {
  const placement = credentialPlacement(grant, path);
  const placed: Array<[string, string]> = placement.header === undefined ? [] : [[placement.header[0].toLowerCase(), placement.header[1]]];
  const newPath = placement.path;

  if (Array.isArray(headers)) {
    const names = new Set(placed.map(([name]) => name));
    const out: string[] = [];
    let pathPlaced = false;
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const name = String(headers[i]).toLowerCase();
      if (names.has(name)) continue;
      const isPath = name === ':path' && newPath !== undefined;
      pathPlaced ||= isPath;
      out.push(headers[i]!, isPath ? newPath : headers[i + 1]!);
    }
    // Pseudo-headers come first on the wire.
    if (newPath !== undefined && !pathPlaced) out.unshift(':path', newPath);
    for (const [name, value] of placed) out.push(name, value);
    return out;
  }

  const out: OutgoingHttpHeaders = Object.assign({}, headers as OutgoingHttpHeaders | undefined);
  for (const [name, value] of placed) {
    for (const key of Object.keys(out)) if (key.toLowerCase() === name) delete out[key];
    out[name] = value;
  }
  if (newPath !== undefined) out[':path'] = newPath;
  return sensitive(out, placed.map(([name]) => name));
}

/**
 * The request's headers signed with AWS SigV4. HTTP/2 names the host in `:authority`, so it is
 * set to exactly the host that was signed (no `host` header). A body that follows the headers
 * is signed as `UNSIGNED-PAYLOAD`, which only S3 accepts: for another service the signer refuses
 * (`body_not_signable`) and the request is not sent.
 */
export async function signedHeaders(headers: Http2Headers | undefined, grant: Grant, target: OutgoingRequest, ended: boolean): Promise<OutgoingHttpHeaders> {
  const pseudo: OutgoingHttpHeaders = {};
  const regular: unknown[] = [];
  const pairs: Array<[string, unknown]> = Array.isArray(headers)
    ? Array.from({ length: Math.floor(headers.length / 2) }, (_, i) => [String(headers[2 * i]), headers[2 * i + 1]])
    : Object.entries(headers ?? {});
  for (const [name, value] of pairs) {
    if (name.startsWith(':')) pseudo[name.toLowerCase()] = value as string;
    else regular.push(name, value);
  }
  const signed = await signForGrant(grant, target, {
    method: target.method,
    path: target.path,
    headers: toHeaderRecord(regular as string[]),
    body: ended ? undefined : STREAMED_BODY,
  });
  const out: OutgoingHttpHeaders = { ...pseudo, ':method': target.method, ':path': target.path, ':authority': signed.host };
  for (const name of Object.keys(signed)) if (name !== 'host') out[name] = signed[name];
  return sensitive(out, ['authorization', 'x-amz-security-token']);
}

function sensitive(headers: OutgoingHttpHeaders, names: string[]): OutgoingHttpHeaders {
  const listed = (headers as Record<symbol, unknown>)[http2.sensitiveHeaders];
  (headers as Record<symbol, unknown>)[http2.sensitiveHeaders] = [...(Array.isArray(listed) ? listed : []), ...names];
  return headers;
}
