import type { ClientRequest } from 'node:http';
import { http } from './builtins.js';
import type { Grant } from '../../runtime/gate.js';
import { credentialPlacement, type CredentialPlacement } from '../credential-placement.js';
import type { Call } from './arguments.js';
import { own } from './context.js';

/**
 * A cached header/basic/query credential can be set on the created request, unless Node renders
 * the headers inside the constructor: for an array of raw headers, or an `Expect` header.
 */
export function placeableAtOnce(grant: Grant, call: Call): boolean {
  if (grant.issued.injection.kind === 'aws-sigv4') return false;
  const headers = call.merged.headers;
  if (headers === undefined || headers === null) return true;
  if (Array.isArray(headers)) return false;
  return typeof headers !== 'object' || expectHeader(headers as Record<string, unknown>) === undefined;
}

/** The `Expect` header the caller passed (Node renders the headers at once for it), if any. */
export function expectHeader(headers: Record<string, unknown>): [string, unknown] | undefined {
  let found: [string, unknown] | undefined;
  for (const key of Object.keys(headers)) {
    if (key.length === 6 && key.toLowerCase() === 'expect') found = headers[key] ? [key, headers[key]] : undefined;
  }
  return found;
}

/** The header (header/basic) or the path (query) to set; throws InjectionError and the like. */
export function placementFor(grant: Grant, path: string): CredentialPlacement {
  const placement = credentialPlacement(grant, path);
  if (placement.header !== undefined) {
    // Checked before the request exists; the messages name the header, never the value.
    http.validateHeaderName(placement.header[0]);
    http.validateHeaderValue(placement.header[0], placement.header[1]);
  }
  return placement;
}

export function place(req: ClientRequest, grant: Grant, placement: CredentialPlacement, placedFor: string): void {
  // Headers render on the first write/end; rendered now, the credential could not be placed.
  if (req.headersSent) throw new Error('tessera: the request headers were rendered before the credential could be placed');
  if (placement.header !== undefined) ownHeader(req, placement.header[0], placement.header[1]);
  if (placement.path !== undefined) {
    // A proxy agent may have rewritten the path already (absolute-form): inject into what is sent.
    req.path = req.path === placedFor ? placement.path : placementFor(grant, req.path).path!;
  }
}

/**
 * Set the credential header, replacing the application's (any case: `setHeader` keys on the
 * lower-case name), and keep it: clients such as superagent set their headers only after
 * `request()` returned, and an application `Authorization` must not replace the credential.
 */
function ownHeader(req: ClientRequest, name: string, value: string): void {
  const lower = name.toLowerCase();
  const setHeader = own(req).setHeader;
  const removeHeader = own(req).removeHeader;
  Reflect.apply(setHeader, req, [name, value]);
  const props = own(req);
  props.setHeader = function (this: ClientRequest, ...args: unknown[]): unknown {
    if (typeof args[0] === 'string' && args[0].toLowerCase() === lower) return this;
    return Reflect.apply(setHeader, this, args);
  };
  props.removeHeader = function (this: ClientRequest, ...args: unknown[]): unknown {
    if (typeof args[0] === 'string' && args[0].toLowerCase() === lower) return undefined;
    return Reflect.apply(removeHeader, this, args);
  };
}
