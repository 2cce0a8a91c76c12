import type { ClientRequest } from 'node:http';
import { http, https } from './builtins.js';
import { MUST_WAIT, type Grant, type RequestGate } from '../../runtime/gate.js';
import { patchSet } from '../patches.js';
import type { InterceptorLogger } from '../warn.js';
import { describeCall, type Call } from './arguments.js';
import { warn, type Context, type HttpModule, type Patched } from './context.js';
import { placeableAtOnce } from './placement.js';
import { send } from './send.js';

/**
 * Just-in-time credential injection for clients built on `node:http` / `node:https` (axios,
 * got, node-fetch, superagent, the AWS SDK's NodeHttpHandler ...), by patching
 * `http(s).request` and `http(s).get`.
 *
 * - Unmanaged requests go to the original function with the caller's exact arguments.
 * - A cached header/basic/query credential is placed on the real `ClientRequest` right after
 *   it is created, before the caller can write (headers render on the first write/end).
 * - Everything else (no decision yet, SigV4, headers Node renders in the constructor) takes the
 *   deferred path: the request is created with an agent wrapper that holds the connection, and
 *   `write`/`end`/`flushHeaders` are queued until the credential is placed. A refusal destroys
 *   the request with the gate's error before any connection is opened.
 * - A 401 to a managed request whose whole body is known (none, or ended within 1 MiB: a copy
 *   is kept) is drained, and one new request with a fresh credential answers on the caller's
 *   request object. A second 401, or one to a streamed or larger body, reaches the caller.
 *
 * The modules beside this one: arguments.ts (the forms of `request()`), placement.ts (header,
 * basic, query), send.ts (at once or held), held-request.ts (the deferred path), sigv4-body.ts
 * (when and what SigV4 signs), flight.ts (outcome reporting, the 401 hook), retry.ts (the
 * retry), body-copy.ts (the body kept for it).
 */

export interface NodeHttpInterceptionOptions {
  /** Internal failures of the interceptor (never a credential: names and error codes only). */
  logger?: InterceptorLogger;
}

/**
 * Patches `http.request/get` and `https.request/get` through the patch registry (which also
 * syncs the ESM named exports, so `import { request } from 'node:http'` sees the patch). Returns
 * the uninstall function, which puts the originals back (unless something patched over ours
 * since: ours then passes every request through untouched). Installing twice without
 * uninstalling throws (`already_patched`).
 */
export function installNodeHttpInterception(gate: RequestGate, options: NodeHttpInterceptionOptions = {}): () => void {
  const ctx: Context = { gate, logger: options.logger, active: true };
  const patches = patchSet((add) => {
    for (const module of [http, https] as unknown as HttpModule[]) {
      const patched: Patched = { module, originalRequest: module.request, originalGet: module.get };
      add(module, 'request', () => function request(this: unknown, ...args: unknown[]): ClientRequest {
        return intercept(ctx, patched, false, this, args);
      }, BY);
      add(module, 'get', () => function get(this: unknown, ...args: unknown[]): ClientRequest {
        return intercept(ctx, patched, true, this, args);
      }, BY);
    }
  });
  return () => {
    ctx.active = false;
    patches.restore();
  };
}

const BY = 'node:http interception';

function intercept(ctx: Context, patched: Patched, isGet: boolean, thisArg: unknown, args: unknown[]): ClientRequest {
  const untouched = isGet ? patched.originalGet : patched.originalRequest;
  if (!ctx.active) return Reflect.apply(untouched, thisArg, args);
  let call: Call | undefined;
  let decision: Grant | typeof MUST_WAIT | undefined;
  let atOnce = false;
  try {
    call = describeCall(patched.module, args);
    if (call !== undefined) {
      decision = ctx.gate.tryAdmit(call.target);
      // Checked only for managed requests: the SDK's own calls are rare, unmanaged ones are not.
      if (decision !== undefined && ctx.gate.bypassed()) decision = undefined;
      atOnce = decision !== undefined && decision !== MUST_WAIT && placeableAtOnce(decision, call);
    }
  } catch (error) {
    warn(ctx, 'tessera: node:http interception could not read a request; it is sent untouched', error);
    decision = undefined;
  }
  // Outside the try: an exception of Node's own (invalid options) reaches the caller as usual.
  if (call === undefined || decision === undefined) return Reflect.apply(untouched, thisArg, args);

  const req = send(ctx, patched, thisArg, call, decision, atOnce, true);
  // Node's own get() is request() + end(); end() is queued on the deferred path.
  if (isGet && req !== undefined) req.end();
  return req ?? Reflect.apply(untouched, thisArg, args);
}
