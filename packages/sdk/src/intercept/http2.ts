import http2, { type ClientHttp2Session, type ClientHttp2Stream, type ClientSessionRequestOptions, type OutgoingHttpHeaders } from 'node:http2';
import { InjectionError } from '../inject/injection-error.js';
import { MUST_WAIT, type Grant, type OutgoingRequest, type RequestGate } from '../runtime/gate.js';
import { signedHeaders, withCredential, type Http2Headers } from './http2-headers.js';
import { describe, sessionOrigin, type Described, type Origin } from './http2-origin.js';
import { HeldStream } from './http2-held-stream.js';
import { patchSet } from './patches.js';
import { warnSafely, type InterceptorLogger } from './warn.js';

/**
 * Just-in-time credentials for HTTP/2 clients built on `node:http2` (gRPC's @grpc/grpc-js among
 * them), by patching `http2.connect` and the `request()` of each session it opens.
 *
 * - A request is looked up by its target: `:scheme`, `:authority` (default: the session's) and
 *   `:path`. Unmanaged: `request()` runs with the caller's exact arguments — the same frames.
 * - A cached header/basic/query credential is placed in the request's headers (`:path` for a
 *   query credential) and the real stream is returned.
 * - Otherwise (no credential cached yet, SigV4) a stand-in stream is returned and no frame is
 *   sent until the credential is placed; a refusal fails that stream with the gate's error.
 * - Fail closed where a credential cannot be placed safely: a request whose `:authority` or
 *   `:scheme` names another origin than its session's (the connection's peer, not the named
 *   origin, would receive it) when either is managed; a SigV4 body for a service other than S3
 *   (its hash is not known before the headers leave).
 */

export interface Http2InterceptionOptions {
  /** Internal failures of the interceptor (names and error codes only). */
  logger?: InterceptorLogger;
}

interface Context {
  gate: RequestGate;
  logger: Http2InterceptionOptions['logger'];
  active: boolean;
}

type RequestFn = (headers?: Http2Headers, options?: ClientSessionRequestOptions) => ClientHttp2Stream;

/**
 * Patches `http2.connect` through the patch registry (which syncs the ESM named export).
 * Returns the uninstall function: the original goes back, and sessions opened meanwhile pass
 * every request untouched from then on. Installing twice without uninstalling throws
 * (`already_patched`).
 */
export function installHttp2Interception(gate: RequestGate, options: Http2InterceptionOptions = {}): () => void {
  const ctx: Context = { gate, logger: options.logger, active: true };
  const patches = patchSet((add) =>
    add(
      http2,
      'connect',
      (original) =>
        function connect(this: unknown, ...args: unknown[]): ClientHttp2Session {
          const session = Reflect.apply(original, this, args) as ClientHttp2Session;
          try {
            watch(ctx, session, args[0], args[1]);
          } catch (error) {
            warn(ctx, 'tessera: node:http2 interception could not read a session', error);
          }
          return session;
        } as typeof http2.connect,
      'node:http2 interception',
    ),
  );
  return () => {
    ctx.active = false;
    patches.restore();
  };
}

function watch(ctx: Context, session: ClientHttp2Session, authority: unknown, options: unknown): void {
  const origin = sessionOrigin(authority, typeof options === 'object' && options !== null ? (options as Record<string, unknown>) : {});
  const request = session.request as RequestFn;
  let ofUndici: boolean | undefined;
  Object.defineProperty(session, 'request', {
    configurable: true,
    enumerable: false,
    writable: true,
    value: function (this: ClientHttp2Session, ...args: Parameters<RequestFn>): ClientHttp2Stream {
      ofUndici ??= isUndiciSession(this);
      if (ofUndici) return Reflect.apply(request, this, args);
      return intercept(ctx, origin, request, this, args);
    },
  });
}

/**
 * undici (npm and Node's built-in, with `allowH2`) speaks HTTP/2 through `http2.connect` too. Its
 * requests were decided by the undici interceptor or the safety net already, before they reached
 * the session; deciding again would place or sign twice. Its sessions carry their undici
 * `Client` under a `Symbol('client')` key, set right after `connect()` returns.
 */
function isUndiciSession(session: ClientHttp2Session): boolean {
  const own = session as unknown as Record<symbol, unknown>;
  return Object.getOwnPropertySymbols(session).some((key) => key.description === 'client' && typeof (own[key] as { dispatch?: unknown } | null)?.dispatch === 'function');
}

function intercept(ctx: Context, origin: Origin, request: RequestFn, session: ClientHttp2Session, args: Parameters<RequestFn>): ClientHttp2Stream {
  if (!ctx.active) return Reflect.apply(request, session, args);
  let described: Described | undefined;
  let decision: Grant | typeof MUST_WAIT | undefined;
  try {
    described = describe(origin, args[0]);
    if (described !== undefined) {
      decision = ctx.gate.tryAdmit(described.target);
      if (described.peer !== undefined && ctx.gate.tryAdmit(described.peer) !== undefined) decision = MUST_WAIT;
      // Checked only for managed requests: the SDK's own calls are rare, unmanaged ones are not.
      if (decision !== undefined && ctx.gate.bypassed()) decision = undefined;
    }
  } catch (error) {
    warn(ctx, 'tessera: node:http2 interception could not read a request; it is sent untouched', error);
    decision = undefined;
  }
  if (described === undefined || decision === undefined) return Reflect.apply(request, session, args);

  const { target, peer } = described;
  if (decision !== MUST_WAIT && peer === undefined && decision.issued.injection.kind !== 'aws-sigv4') {
    const grant = decision;
    let headers: Http2Headers;
    try {
      headers = withCredential(args[0], grant, target.path);
    } catch (error) {
      return held(ctx, session, request, args, target, async (granted) => {
        granted(grant);
        throw error;
      });
    }
    const stream = Reflect.apply(request, session, [headers, args[1]]) as ClientHttp2Stream;
    observe(ctx, stream, grant, target);
    return stream;
  }
  const known = decision === MUST_WAIT ? undefined : decision;
  return held(ctx, session, request, args, target, (granted) => (peer === undefined ? prepare(ctx, args, target, known, granted) : refuseMismatch(ctx, described, granted)));
}

/** Once decided: the grant and the headers to send it with (no grant: the caller's arguments go as they are). */
interface Sendable {
  grant: Grant | undefined;
  headers?: Http2Headers;
}

/** `granted` learns the grant as soon as there is one, so a failure after it is reported against it. */
type Decide = (granted: (grant: Grant) => void) => Promise<Sendable>;

async function prepare(ctx: Context, args: Parameters<RequestFn>, target: OutgoingRequest, known: Grant | undefined, granted: (grant: Grant) => void): Promise<Sendable> {
  const grant = known ?? (await ctx.gate.admit(target));
  if (grant === undefined) return { grant };
  granted(grant);
  if (grant.issued.injection.kind !== 'aws-sigv4') return { grant, headers: withCredential(args[0], grant, target.path) };
  return { grant, headers: await signedHeaders(args[0], grant, target, endsAtOnce(args[1], target.method)) };
}

/** A request naming another origin than its session's, one of them managed: never sent. */
async function refuseMismatch(ctx: Context, described: Described, granted: (grant: Grant) => void): Promise<Sendable> {
  const { target, peer } = described;
  const grants = await Promise.all([ctx.gate.admit(target), ctx.gate.admit(peer!)]); // a refusal is the answer
  const grant = grants[0] ?? grants[1];
  if (grant === undefined) return { grant }; // neither managed after all
  granted(grant);
  throw new InjectionError(
    'target_mismatch',
    grant.issued.injection.kind,
    `the request names ${described.named} but its HTTP/2 session is connected to ${peer!.scheme}://${peer!.host}:${peer!.port}; a managed request is sent only on a session to its own origin`,
  );
}

/** A stand-in stream, released with the real one once `decide` settles, or failed with its error. */
function held(ctx: Context, session: ClientHttp2Session, request: RequestFn, args: Parameters<RequestFn>, target: OutgoingRequest, decide: Decide): ClientHttp2Stream {
  const options = args[1];
  const stream = new HeldStream(session, endsAtOnce(options, target.method));
  const signal = options?.signal;
  const abort = () => stream.destroy(Object.assign(new Error('The operation was aborted', { cause: signal?.reason }), { name: 'AbortError', code: 'ABORT_ERR' }));
  if (signal?.aborted) abort();
  else signal?.addEventListener('abort', abort, { once: true });
  let grant: Grant | undefined;
  decide((known) => (grant = known)).then(
    (sendable) => {
      signal?.removeEventListener('abort', abort);
      if (stream.destroyed) {
        // The caller gave up meanwhile: nothing is sent; the grant still gets its outcome.
        if (sendable.grant !== undefined) report(ctx, sendable.grant, target, undefined, new Error('the stream was closed before it was sent'));
        return;
      }
      stream.release(() => Reflect.apply(request, session, sendable.grant === undefined ? args : [sendable.headers, options]) as ClientHttp2Stream);
      if (sendable.grant !== undefined) observe(ctx, stream, sendable.grant, target);
    },
    (error: unknown) => {
      signal?.removeEventListener('abort', abort);
      if (grant !== undefined) report(ctx, grant, target, undefined, error);
      stream.fail(error);
    },
  );
  return stream as unknown as ClientHttp2Stream;
}

/** Node ends the writable side at once with `endStream`, which defaults to true for GET, HEAD and DELETE. */
function endsAtOnce(options: ClientSessionRequestOptions | undefined, method: string): boolean {
  return options?.endStream ?? (method === 'GET' || method === 'HEAD' || method === 'DELETE');
}

/** Reports the outcome of a granted stream; a 401 drops the credential so the next request asks anew. */
function observe(ctx: Context, stream: ClientHttp2Stream | HeldStream, grant: Grant, target: OutgoingRequest): void {
  let reported = false;
  const once = (statusCode: number | undefined, error?: unknown) => {
    if (reported) return;
    reported = true;
    if (statusCode === 401) ctx.gate.rejected(grant);
    report(ctx, grant, target, statusCode, error);
  };
  // Listeners on 'response' and 'close' change nothing in how Node handles the stream.
  stream.once('response', (headers: OutgoingHttpHeaders) => once(Number(headers[':status'])));
  stream.once('close', () => once(undefined, new Error(`the stream closed before a response (code ${stream.rstCode})`)));
}

function report(ctx: Context, grant: Grant, target: OutgoingRequest, statusCode: number | undefined, error?: unknown): void {
  try {
    ctx.gate.finished(grant, target, statusCode, error);
  } catch (failure) {
    warn(ctx, 'tessera: gate.finished threw', failure);
  }
}

function warn(ctx: Context, message: string, error: unknown): void {
  warnSafely(ctx.logger, message, error);
}
