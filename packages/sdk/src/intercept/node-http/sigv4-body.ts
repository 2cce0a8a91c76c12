import type { ClientRequest } from 'node:http';
import { STREAMED_BODY } from '../../inject/sigv4.js';
import type { HeaderObject } from '../../inject/types.js';
import type { Grant, OutgoingRequest } from '../../runtime/gate.js';
import { holdsForSigning } from '../body-limits.js';
import { toHeaderRecord } from '../header-record.js';
import { signForGrant } from '../credential-placement.js';
import { encodingOf, isChunk } from './body-copy.js';

/** What a held SigV4 request knows of its body so far. */
export interface BodySoFar {
  /** Bytes written (and in `end()`) so far. */
  bytes: number;
  ended: boolean;
  /** The caller asked for the headers now (`flushHeaders`). */
  flushRequested: boolean;
  /** With `Expect: 100-continue` the caller writes only after the server's answer. */
  expectsContinue: boolean;
}

/**
 * When a held SigV4 request is signed: at `end()`, with the whole body hashed; before it, as a
 * streamed body (UNSIGNED-PAYLOAD, where the signer allows it), once the body cannot be waited
 * for — past the signing limit, headers wanted now, or the caller waiting for '100 Continue'.
 */
export function signingPoint(body: BodySoFar): 'wait' | 'whole' | 'streamed' {
  if (body.ended) return 'whole';
  return !holdsForSigning(body.bytes) || body.flushRequested || body.expectsContinue ? 'streamed' : 'wait';
}

/** Signs the held request as it stands (its headers, its path in origin form) and puts the signed header set on it. */
export async function signHeldRequest(req: ClientRequest, grant: Grant, target: OutgoingRequest, body: Uint8Array | undefined | typeof STREAMED_BODY, stillWanted: () => boolean): Promise<void> {
  const signed = await signForGrant(grant, target, {
    method: req.method,
    path: originPath(req.path),
    headers: toHeaderRecord(req.getHeaders() as HeaderObject),
    body,
  });
  if (!stillWanted()) return; // the caller destroyed it meanwhile
  // The signer returns the complete header set: what it left out (an old signature) goes.
  for (const name of req.getHeaderNames()) if (!Object.hasOwn(signed, name)) req.removeHeader(name);
  for (const name of Object.keys(signed)) req.setHeader(name, signed[name]!);
}

/** The body of queued `write`/`end` calls, as one buffer (`undefined` when there is none). */
export function queuedBody(calls: ReadonlyArray<{ op: string; args: unknown[] }>): Uint8Array | undefined {
  const parts: Uint8Array[] = [];
  for (const { op, args } of calls) {
    if (op === 'flushHeaders') continue;
    const chunk = args[0];
    if (!isChunk(chunk)) continue;
    parts.push(typeof chunk === 'string' ? Buffer.from(chunk, encodingOf(args[1])) : chunk);
  }
  return parts.length === 0 ? undefined : Buffer.concat(parts);
}

/** The origin-form path a proxy agent's absolute-form request line stands for. */
function originPath(path: string): string {
  if (path.charCodeAt(0) === 47 /* / */) return path;
  const url = URL.parse(path);
  return url === null ? path : `${url.pathname}${url.search}`;
}
