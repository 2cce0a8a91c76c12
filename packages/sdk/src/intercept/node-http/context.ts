import type { ClientRequest } from 'node:http';
import type { Grant, OutgoingRequest, RequestGate } from '../../runtime/gate.js';
import { warnSafely, type InterceptorLogger } from '../warn.js';

/** What `http.request`/`get` and `https.request`/`get` are, typed once for both modules. */
export type RequestFn = (...args: unknown[]) => ClientRequest;

/** `node:http` or `node:https`, as far as the interceptor uses it. */
export interface HttpModule {
  request: RequestFn;
  get: RequestFn;
  globalAgent: AgentLike;
}

/** An agent as `ClientRequest` uses it (its own classes, or any object with `addRequest`). */
export interface AgentLike {
  /** Called by the `ClientRequest` constructor: `(request, options)` (not in Node's typings). */
  addRequest(...args: unknown[]): void;
  protocol?: unknown;
  defaultPort?: unknown;
  options?: { socketPath?: unknown };
}

/** One module's originals, kept by the patch. */
export interface Patched {
  module: HttpModule;
  originalRequest: RequestFn;
  originalGet: RequestFn;
}

export interface Context {
  gate: RequestGate;
  logger: InterceptorLogger | undefined;
  active: boolean;
}

export type Method = (...args: unknown[]) => unknown;

/** The request's methods the interceptor wraps, as plain functions; anything else as unknown. */
export interface RequestProperties {
  write: Method;
  end: Method;
  flushHeaders: Method;
  destroy: Method;
  emit: Method;
  setHeader: Method;
  removeHeader: Method;
  [property: string]: unknown;
}

/**
 * The request as a plain object. The interceptor puts wrappers over some of its methods (and,
 * during a retry, over `destroyed`) as own properties and takes them off again: the one place
 * that looks at a `ClientRequest` this way. Named reads (`own(req).write`), not a keyed helper:
 * this runs per managed request.
 */
export function own(req: ClientRequest): RequestProperties {
  return req as unknown as RequestProperties;
}

export function report(ctx: Context, grant: Grant, target: OutgoingRequest, statusCode: number | undefined, error?: unknown): void {
  try {
    if (statusCode !== undefined) ctx.gate.finished(grant, target, statusCode);
    else ctx.gate.finished(grant, target, undefined, error);
  } catch (failure) {
    warn(ctx, 'tessera: gate.finished threw', failure);
  }
}

export function closedError(): Error {
  return new Error('the request was closed before a response arrived');
}

export function warn(ctx: Context, message: string, error: unknown): void {
  warnSafely(ctx.logger, message, error);
}

/** What an agent does for a request it never connected: the request ends, 'error' (if it was destroyed with one) then 'close'. */
export function endUnconnected(req: ClientRequest): void {
  req.onSocket(null as never); // typed to take a socket; Node's agents pass null for this
}
