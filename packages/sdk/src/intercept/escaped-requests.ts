import diagnostics from 'node:diagnostics_channel';
import { TesseraAccessDeniedError, TesseraUnavailableError } from '../errors.js';
import { applyInjection } from '../inject/inject.js';
import { replaceFlatHeaderInPlace } from '../inject/headers.js';
import { describeTarget } from '../runtime/diagnostics.js';
import { MUST_WAIT, type OutgoingRequest, type RequestGate } from '../runtime/gate.js';
import { requestTarget } from './origin.js';
import { dispatching } from './undici.js';

interface UndiciRequest {
  origin: string | URL;
  path: string;
  method: string;
  headers: unknown[];
  onResponseError?(error: Error): void;
  onError?(error: Error): void;
}

/** Refusals remembered at most (per target path); beyond, the memory starts over. */
const MAX_REMEMBERED = 256;

/**
 * The safety net for requests that never pass the Tessera interceptor: an application's own
 * `Agent`, `Client`, `Pool` or `ProxyAgent` (or one handed to `fetch` as `dispatcher`). undici
 * announces every request on `undici:request:create`, synchronously, before it is queued; a
 * request to a forward proxy is read for its real target (absolute form). There:
 *
 * - a credential that is already cached is placed;
 * - otherwise nothing can be awaited, so the request fails — undici then drops it before
 *   connecting, so neither a proxy nor the target sees it — with the answer the previous attempt
 *   at this target got: the cloud's refusal, or a `TesseraUnavailableError` saying how to wire
 *   Tessera into that dispatcher. The credential is asked for meanwhile, so a retry finds it.
 *
 * `onEscape` runs for each such request: the global dispatcher may have been replaced in a way
 * Tessera could not see (see DispatcherSlots.adopt).
 */
export function subscribeEscapedRequests(gate: RequestGate, onEscape: () => void): () => void {
  /** `scheme://host:port/path` → the refusal the last credential call for it got. */
  const refusals = new Map<string, TesseraAccessDeniedError>();
  let warned = false;

  const remember = (key: string, target: OutgoingRequest) => {
    gate.admit(target).then(
      () => refusals.delete(key),
      (error: unknown) => {
        if (!(error instanceof TesseraAccessDeniedError)) return void refusals.delete(key);
        if (refusals.size >= MAX_REMEMBERED) refusals.clear();
        refusals.set(key, error);
      },
    );
  };

  const onCreate = (message: unknown) => {
    if (dispatching.active) return; // it came through the interceptor
    const request = (message as { request: UndiciRequest }).request;
    try {
      onEscape();
      const target = requestTarget(request.origin, request.path, request.method);
      if (target === undefined) return;
      const decision = gate.tryAdmit(target);
      if (decision === undefined) return;
      if (decision === MUST_WAIT || decision.issued.injection.kind === 'aws-sigv4') {
        const key = describeTarget(target);
        const refused = refusals.get(key);
        const error = refused
          ? new TesseraAccessDeniedError(refused.code, refused.message, refused.details)
          : new TesseraUnavailableError(
            `a request to a Tessera-managed target went through an undici dispatcher Tessera does not wrap, before a credential was cached; ` +
              `compose Tessera onto it (dispatcher.compose(tessera.interceptor)) or use the global dispatcher`,
          );
        remember(key, target);
        if (!warned && error instanceof TesseraUnavailableError) {
          warned = true;
          process.emitWarning(error.message, { code: 'TESSERA_UNWRAPPED_DISPATCHER' });
        }
        if (typeof request.onResponseError === 'function') request.onResponseError(error);
        else request.onError?.(error);
        return;
      }
      // The path as sent (absolute form to a proxy included): a query credential goes into it.
      const injected = applyInjection({ path: request.path, headers: [] }, decision.issued.credential, decision.issued.injection);
      const placed = injected.headers as unknown[];
      for (let i = 0; i + 1 < placed.length; i += 2) replaceFlatHeaderInPlace(request.headers, String(placed[i]), String(placed[i + 1]));
      if (injected.path !== request.path) request.path = injected.path;
    } catch {
      // The net must never break a request it could not understand.
    }
  };
  diagnostics.subscribe('undici:request:create', onCreate);
  return () => diagnostics.unsubscribe('undici:request:create', onCreate);
}
