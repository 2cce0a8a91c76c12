import type { Dispatcher } from 'undici';
import { applyInjection, credentialHeaderNames } from '../inject/inject.js';
import { STREAMED_BODY } from '../inject/sigv4.js';
import type { HeadersInput } from '../inject/types.js';
import { MUST_WAIT, type Grant, type OutgoingRequest, type RequestGate } from '../runtime/gate.js';
import { toHeaderRecord } from './header-record.js';
import { requestTarget } from './origin.js';
import { signForGrant } from './credential-placement.js';
import { isHeld, isReadFirst, prepareBody } from './undici-body.js';

type DispatchFn = Dispatcher['dispatch'];
type DispatchOptions = Dispatcher.DispatchOptions;
type Handler = Dispatcher.DispatchHandler;
type Controller = Dispatcher.DispatchController;

/**
 * The undici interceptor: `dispatch => (opts, handler) => boolean`. An unmanaged request is
 * handed to the next dispatcher as it came, the same call in the same tick. A managed one with a
 * cached credential gets it placed synchronously; otherwise the interceptor waits for the gate
 * (attestation, credential) and dispatches later, or fails the request through its handler with
 * the gate's error so that nothing is sent.
 */
export function createTesseraInterceptor(gate: RequestGate): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch: DispatchFn): DispatchFn =>
    function tesseraDispatch(opts: DispatchOptions, handler: Handler): boolean {
      // Handed down by a Tessera interceptor above (a dispatcher composed twice): decided there.
      if (dispatching.active) return dispatch(opts, handler);
      const request = describe(opts);
      if (request === undefined) return forward(dispatch, opts, handler);
      const decision = gate.tryAdmit(request);
      if (decision === undefined) return forward(dispatch, opts, handler);
      // A body to read first (SigV4 hashes it; a small one is kept for a retry) waits too.
      if (decision !== MUST_WAIT && decision.issued.injection.kind !== 'aws-sigv4' && !isReadFirst(opts)) {
        let placed: DispatchOptions;
        try {
          placed = placeSync(opts, decision);
        } catch (error) {
          gate.finished(decision, request, undefined, error);
          return failHandler(handler, error);
        }
        return forward(dispatch, placed, grantHandler(gate, dispatch, opts, handler, decision, request, false, isHeld(opts.body)));
      }
      void dispatchLater(gate, dispatch, opts, handler, request, decision === MUST_WAIT ? undefined : decision, false);
      return true;
    };
}

/**
 * Set while a request the interceptor saw is being handed down: undici creates its request
 * object synchronously inside `dispatch`, so the `undici:request:create` safety net can tell
 * requests that came through the interceptor from ones that bypassed it.
 */
export const dispatching = { active: false };

function forward(dispatch: DispatchFn, opts: DispatchOptions, handler: Handler): boolean {
  const outer = dispatching.active;
  dispatching.active = true;
  try {
    return dispatch(opts, handler);
  } finally {
    dispatching.active = outer;
  }
}

/**
 * The request as the gate sees it (the real target of an absolute-form request to a proxy);
 * `undefined` when it is not plain HTTP(S) we can describe, or a CONNECT tunnel.
 */
function describe(opts: DispatchOptions): OutgoingRequest | undefined {
  if (opts.origin === undefined || opts.origin === null) return undefined;
  return requestTarget(opts.origin, opts.path, opts.method);
}

/** Waits for the gate, places the credential, dispatches; any failure reaches the handler. */
async function dispatchLater(
  gate: RequestGate,
  dispatch: DispatchFn,
  opts: DispatchOptions,
  handler: Handler,
  request: OutgoingRequest,
  known: Grant | undefined,
  retried: boolean,
): Promise<void> {
  let grant: Grant | undefined;
  try {
    grant = known ?? (await gate.admit(request));
    if (grant === undefined) {
      forward(dispatch, opts, handler);
      return;
    }
    const { opts: source, replayable } = await prepareBody(opts, grant, request.scheme);
    const placed = grant.issued.injection.kind === 'aws-sigv4' ? await placeSigV4(source, grant, request) : placeSync(source, grant);
    forward(dispatch, placed, grantHandler(gate, dispatch, source, handler, grant, request, retried, replayable));
  } catch (error) {
    if (grant !== undefined) gate.finished(grant, request, undefined, error);
    failHandler(handler, error);
  }
}

function placeSync(opts: DispatchOptions, grant: Grant): DispatchOptions {
  const { issued } = grant;
  const injected = applyInjection({ path: opts.path, headers: (opts.headers ?? null) as HeadersInput | null }, issued.credential, issued.injection);
  return withoutCredentialOnRedirect(opts, grant, injected.path, injected.headers as DispatchOptions['headers']);
}

/**
 * A redirect interceptor below ours (in a dispatcher the application installed before Tessera)
 * would follow a redirect with these very headers, to an origin Tessera never sees: undici strips
 * only Authorization, Cookie and Proxy-Authorization across origins. The credential is for this
 * target, so a redirect to another origin drops it (a managed one then answers 401 rather than
 * receive another target's credential); a same-origin redirect keeps it.
 */
function withoutCredentialOnRedirect(opts: DispatchOptions, grant: Grant, path: string, headers: DispatchOptions['headers']): DispatchOptions {
  const names = credentialHeaderNames(grant.issued.injection);
  if (names.length === 0) return { ...opts, path, headers };
  const existing = (opts as { stripHeadersOnCrossOriginRedirect?: unknown }).stripHeadersOnCrossOriginRedirect;
  const strip = Array.isArray(existing) && existing.length > 0 ? [...(existing as string[]), ...names] : names;
  return { ...opts, path, headers, stripHeadersOnCrossOriginRedirect: strip } as DispatchOptions;
}

async function placeSigV4(opts: DispatchOptions, grant: Grant, request: OutgoingRequest): Promise<DispatchOptions> {
  const body = opts.body;
  const signed = await signForGrant(grant, request, {
    method: request.method,
    path: opts.path,
    headers: toHeaderRecord(opts.headers as HeadersInput | null | undefined),
    body: body === undefined || body === null ? undefined : isHeld(body) ? (body as string | Uint8Array) : STREAMED_BODY,
  });
  const headers: string[] = [];
  for (const name of Object.keys(signed)) headers.push(name, signed[name]!);
  return withoutCredentialOnRedirect(opts, grant, opts.path, headers);
}

/** Fails a request that was never dispatched: the caller's promise rejects with `error`. */
function failHandler(handler: Handler, error: unknown): true {
  const controller: Controller = {
    abort() {},
    pause() {},
    resume() {},
    paused: false,
    aborted: true,
    reason: error as Error,
  };
  try {
    if (typeof handler.onResponseError === 'function') handler.onResponseError(controller, error as Error);
    else (handler as { onError?(err: unknown): void }).onError?.(error);
  } catch {
    // A handler that throws from its error callback has nowhere further to report to.
  }
  return true;
}

/**
 * The handler for a granted request, in the form the caller's handler has. Node's built-in fetch
 * hands Node's own dispatcher a handler of undici's older contract (`onConnect`, `onHeaders` ...),
 * which that dispatcher takes natively: wrapping it in the current form would make undici convert
 * every callback twice (headers parsed into an object and back) on every managed request.
 */
function grantHandler(gate: RequestGate, dispatch: DispatchFn, opts: DispatchOptions, handler: Handler, grant: Grant, request: OutgoingRequest, retried: boolean, replayable: boolean): Handler {
  if (typeof handler.onRequestStart === 'function') return new GrantHandler(gate, dispatch, opts, handler, grant, request, retried, replayable);
  return new LegacyGrantHandler(gate, dispatch, opts, handler as LegacyHandler, grant, request, retried, replayable) as unknown as Handler;
}

/**
 * What a granted request does whichever handler contract the caller uses: reports its outcome to
 * the gate once, and on a 401 drops the credential and — once, when the body can be sent again —
 * retries with a fresh one instead of handing the 401 to the caller.
 */
abstract class GrantedRequest<H> {
  readonly #gate: RequestGate;
  readonly #dispatch: DispatchFn;
  readonly #opts: DispatchOptions;
  readonly #grant: Grant;
  readonly #request: OutgoingRequest;
  readonly #retried: boolean;
  /** The body can be sent again (prepareBody). */
  readonly #replayable: boolean;
  #reported = false;
  protected readonly inner: H;
  /** The 401 is being swallowed: its body is dropped and the request sent again at its end. */
  protected retrying = false;

  constructor(gate: RequestGate, dispatch: DispatchFn, opts: DispatchOptions, inner: H, grant: Grant, request: OutgoingRequest, retried: boolean, replayable: boolean) {
    this.#gate = gate;
    this.#dispatch = dispatch;
    this.#opts = opts;
    this.inner = inner;
    this.#grant = grant;
    this.#request = request;
    this.#retried = retried;
    this.#replayable = replayable;
  }

  /** The status line arrived; true when this answer is swallowed for a retry. */
  protected statusArrived(statusCode: number): boolean {
    if (statusCode < 200) return false;
    if (statusCode === 401) {
      this.#gate.rejected(this.#grant);
      if (!this.#retried && this.#replayable) this.retrying = true;
    }
    this.report(statusCode);
    return this.retrying;
  }

  protected report(statusCode: number): void {
    if (this.#reported) return;
    this.#reported = true;
    this.#gate.finished(this.#grant, this.#request, statusCode);
  }

  protected failed(error: Error): void {
    if (this.#reported) return;
    this.#reported = true;
    this.#gate.finished(this.#grant, this.#request, undefined, error);
  }

  /** The swallowed 401 has ended: send the request again, with a fresh credential. */
  protected resend(): void {
    void dispatchLater(this.#gate, this.#dispatch, this.#opts, this.inner as Handler, this.#request, undefined, true);
  }
}

/** A granted request whose caller uses undici's current handler contract. */
class GrantHandler extends GrantedRequest<Handler> implements Handler {
  onRequestStart(controller: Controller, context: unknown): void {
    this.inner.onRequestStart?.(controller, context);
  }

  onRequestUpgrade(controller: Controller, statusCode: number, headers: Record<string, string | string[]>, socket: import('node:stream').Duplex): void {
    this.report(statusCode);
    this.inner.onRequestUpgrade?.(controller, statusCode, headers, socket);
  }

  onResponseStart(controller: Controller, statusCode: number, headers: Record<string, string | string[]>, statusMessage?: string): void {
    if (this.statusArrived(statusCode)) return;
    this.inner.onResponseStart?.(controller, statusCode, headers, statusMessage);
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.retrying) return;
    this.inner.onResponseData?.(controller, chunk);
  }

  onResponseEnd(controller: Controller, trailers: Record<string, string | string[]>): void {
    if (this.retrying) return this.resend();
    this.inner.onResponseEnd?.(controller, trailers);
  }

  onResponseError(controller: Controller, error: Error): void {
    this.failed(error);
    this.inner.onResponseError?.(controller, error);
  }
}

type RawHeaders = Buffer[] | string[];

/** undici's older handler contract, which Node's built-in fetch still uses. */
interface LegacyHandler {
  onConnect?(abort: (reason?: Error) => void, context?: unknown): void;
  onResponseStarted?(): void;
  onUpgrade?(statusCode: number, headers: RawHeaders, socket: unknown): void;
  onHeaders?(statusCode: number, headers: RawHeaders, resume: () => void, statusText?: string): boolean | void;
  onData?(chunk: Buffer): boolean | void;
  onComplete?(trailers: RawHeaders | null): void;
  onError?(error: Error): void;
}

/** A granted request whose caller uses undici's older handler contract. */
class LegacyGrantHandler extends GrantedRequest<LegacyHandler> implements LegacyHandler {
  onConnect(abort: (reason?: Error) => void, context?: unknown): void {
    this.inner.onConnect?.(abort, context);
  }

  onResponseStarted(): void {
    this.inner.onResponseStarted?.();
  }

  onUpgrade(statusCode: number, headers: RawHeaders, socket: unknown): void {
    this.report(statusCode);
    this.inner.onUpgrade?.(statusCode, headers, socket);
  }

  onHeaders(statusCode: number, headers: RawHeaders, resume: () => void, statusText?: string): boolean | void {
    if (this.statusArrived(statusCode)) return true;
    return this.inner.onHeaders?.(statusCode, headers, resume, statusText);
  }

  onData(chunk: Buffer): boolean | void {
    if (this.retrying) return true;
    return this.inner.onData?.(chunk);
  }

  onComplete(trailers: RawHeaders | null): void {
    if (this.retrying) return this.resend();
    this.inner.onComplete?.(trailers);
  }

  onError(error: Error): void {
    this.failed(error);
    this.inner.onError?.(error);
  }
}
