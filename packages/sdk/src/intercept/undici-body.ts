import type { Dispatcher } from 'undici';
import { InjectionError } from '../inject/injection-error.js';
import type { HeadersInput } from '../inject/types.js';
import type { Grant } from '../runtime/gate.js';
import { acceptsUnsignedPayload } from '../inject/sigv4.js';
import { holdsForReplay, holdsForSigning, MAX_SIGNED_BODY } from './body-limits.js';
import { toHeaderRecord } from './header-record.js';

type DispatchOptions = Dispatcher.DispatchOptions;

/** A managed request's options with the body as it will be sent, and whether it can be sent again after a 401. */
export interface PreparedBody {
  opts: DispatchOptions;
  replayable: boolean;
}

/**
 * fetch hands every body to the dispatcher as an async iterable — a string or a Buffer too, with
 * its `content-length` — and undici.request passes the caller's streams as they are. What is
 * held, by the rule of body-limits.ts:
 *
 * - the caller's own string or bytes: nothing to hold, hashed and replayable whatever their size;
 * - SigV4 (unless the client sent its own `x-amz-content-sha256`): a body of known length up to
 *   MAX_SIGNED_BODY is read whole and hashed; past it, or of unknown length, S3 over https gets
 *   UNSIGNED-PAYLOAD (the signer's rule) and everything else is read up to MAX_SIGNED_BODY, then
 *   refused with `body_not_signable` before anything is sent;
 * - a body held this way, or any other of known length up to MAX_REPLAYED_BODY, is replayable.
 */
export async function prepareBody(opts: DispatchOptions, grant: Grant, scheme: string): Promise<PreparedBody> {
  const body = opts.body;
  if (isHeld(body)) return { opts, replayable: true };
  const headers = toHeaderRecord(opts.headers as HeadersInput | null | undefined);
  const declared = declaredLength(headers['content-length']);
  const { injection } = grant.issued;

  let limit: number;
  if (injection.kind !== 'aws-sigv4' || headers['x-amz-content-sha256'] !== undefined) {
    if (declared === undefined || !holdsForReplay(declared)) return { opts, replayable: false };
    limit = declared;
  } else if (declared !== undefined && holdsForSigning(declared)) {
    limit = declared;
  } else if (acceptsUnsignedPayload(injection.service, scheme)) {
    return { opts, replayable: false }; // signed UNSIGNED-PAYLOAD
  } else if (declared !== undefined) {
    throw refusal(body, injection.service);
  } else {
    limit = MAX_SIGNED_BODY;
  }

  const read = await readWithin(body, limit);
  if (read.bytes !== undefined) return { opts: { ...opts, body: read.bytes }, replayable: holdsForReplay(read.bytes.byteLength) };
  // Of unknown length and over the limit: it cannot be hashed, and is not sent.
  if (declared === undefined) throw refusal(body, injection.kind === 'aws-sigv4' ? injection.service : '');
  // More than its content-length, or not readable as bytes: sent as it is (undici refuses a length mismatch).
  // (undici sends async iterables, though its DispatchOptions type does not list them.)
  return { opts: { ...opts, body: read.rest as DispatchOptions['body'] }, replayable: false };
}

/** `body_not_signable`, after letting go of the body that will not be sent (a file stream closes). */
function refusal(body: unknown, service: string): InjectionError {
  const stream = body as { destroy?(): void; return?(): unknown } | null;
  try {
    if (typeof stream?.destroy === 'function') stream.destroy();
    else if (typeof stream?.return === 'function') Promise.resolve(stream.return()).catch(() => {});
  } catch {
    // Letting go is a courtesy; the refusal stands.
  }
  const why = service === 's3' ? 'S3 accepts an unsigned payload only over https' : `only S3 accepts an unsigned payload, not "${service}"`;
  return new InjectionError('body_not_signable', 'aws-sigv4', `a body over ${MAX_SIGNED_BODY} bytes is not held to hash it for the signature, and ${why}`);
}

/** A body the interceptor can send again as it is (fast path: nothing to read first). */
export function isHeld(body: DispatchOptions['body']): boolean {
  return body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array;
}

/** A stream with a small content-length, read first so that a 401 can be answered with a retry. */
export function isReadFirst(opts: DispatchOptions): boolean {
  if (isHeld(opts.body)) return false;
  const declared = declaredLength(toHeaderRecord(opts.headers as HeadersInput | null | undefined)['content-length']);
  return declared !== undefined && holdsForReplay(declared);
}

function declaredLength(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,15}$/.test(value.trim())) return undefined;
  return Number(value.trim());
}

type Read = { bytes: Buffer; rest?: undefined } | { bytes?: undefined; rest: AsyncIterable<Uint8Array> };

/**
 * Reads `body` while it stays within `limit` bytes. Past it, what was read comes back in front of
 * the rest, as one stream, so nothing is lost; a body that cannot be read as bytes (undici's
 * FormData, a Blob over the limit) is left as it is.
 */
async function readWithin(body: DispatchOptions['body'], limit: number): Promise<Read> {
  const asBlob = body as Partial<Blob> | null;
  if (typeof asBlob?.arrayBuffer === 'function' && typeof asBlob.size === 'number') {
    return asBlob.size <= limit ? { bytes: Buffer.from(await asBlob.arrayBuffer()) } : untouched(body);
  }
  const iterator = iteratorOf(body);
  if (iterator === undefined || Object.prototype.toString.call(body) === '[object FormData]') return untouched(body);
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const next = await iterator.next();
    if (next.done) return { bytes: Buffer.concat(chunks, size) };
    const chunk = toBuffer(next.value);
    chunks.push(chunk);
    size += chunk.byteLength;
    if (size > limit) return { rest: resume(chunks, iterator) };
  }
}

function untouched(body: DispatchOptions['body']): Read {
  return { rest: body as AsyncIterable<Uint8Array> };
}

function iteratorOf(body: unknown): AsyncIterator<unknown> | Iterator<unknown> | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const asyncIterate = (body as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator];
  if (typeof asyncIterate === 'function') return asyncIterate.call(body);
  const iterate = (body as Partial<Iterable<unknown>>)[Symbol.iterator];
  return typeof iterate === 'function' ? iterate.call(body) : undefined;
}

async function* resume(read: Buffer[], iterator: AsyncIterator<unknown> | Iterator<unknown>): AsyncGenerator<Uint8Array> {
  let finished = false;
  try {
    yield* read;
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      yield toBuffer(next.value);
    }
    finished = true;
  } finally {
    if (!finished) await iterator.return?.();
  }
}

function toBuffer(chunk: unknown): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk);
  if (ArrayBuffer.isView(chunk)) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return Buffer.from(chunk as ArrayBuffer);
}
