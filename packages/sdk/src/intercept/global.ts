import diagnostics from 'node:diagnostics_channel';
import type { Dispatcher } from 'undici';
import { loadUndici } from '../load-undici.js';
import { TesseraUnavailableError } from '../errors.js';
import { applyInjection } from '../inject/inject.js';
import { replaceFlatHeaderInPlace } from '../inject/headers.js';
import { MUST_WAIT, type RequestGate } from '../runtime/gate.js';
import { createTesseraInterceptor, dispatching } from './undici.js';
import { parseOrigin } from './origin.js';

/** Where npm undici ≥ 7.30 keeps the global dispatcher, and where Node's built-in fetch reads it. */
const GLOBAL_DISPATCHER = Symbol.for('undici.globalDispatcher.2');
const LEGACY_GLOBAL_DISPATCHER = Symbol.for('undici.globalDispatcher.1');

type Slots = Record<symbol, Dispatcher | undefined>;

/**
 * Composes the Tessera interceptor onto the global undici dispatcher that is installed now —
 * a `ProxyAgent` or `EnvHttpProxyAgent` keeps doing its job underneath — so Node's built-in
 * `fetch` and npm undici's `fetch`/`request`/`stream` go through it. Returns the uninstall
 * function, which puts the previous dispatcher back unless the application replaced ours since.
 */
export function installGlobalDispatcher(gate: RequestGate): () => void {
  const { Agent, setGlobalDispatcher } = loadUndici();
  const slots = globalThis as unknown as Slots;
  const interceptor = createTesseraInterceptor(gate);
  const previous = slots[GLOBAL_DISPATCHER];
  const previousLegacy = slots[LEGACY_GLOBAL_DISPATCHER];
  let ours: Dispatcher;

  if (previous !== undefined) {
    // npm undici installed one (maybe the application's proxy): wrap it. undici mirrors it to
    // the legacy slot for the built-in fetch.
    ours = previous.compose(interceptor);
    setGlobalDispatcher(ours);
  } else if (previousLegacy !== undefined && typeof previousLegacy.compose === 'function') {
    // Only Node's built-in undici has one (a fetch ran before, or NODE_USE_ENV_PROXY): wrap it in
    // place, and fill the newer slot too, so npm undici loaded later keeps ours instead of
    // installing a plain Agent over both.
    ours = previousLegacy.compose(interceptor);
    define(LEGACY_GLOBAL_DISPATCHER, ours);
    define(GLOBAL_DISPATCHER, new Agent().compose(interceptor));
  } else {
    ours = new Agent().compose(interceptor);
    setGlobalDispatcher(ours);
  }

  const unsubscribe = subscribeEscapedRequests(gate);
  return () => {
    unsubscribe();
    const now = slots[GLOBAL_DISPATCHER];
    if (previous !== undefined) {
      if (now === ours) setGlobalDispatcher(previous);
    } else if (previousLegacy !== undefined && slots[LEGACY_GLOBAL_DISPATCHER] === ours) {
      define(LEGACY_GLOBAL_DISPATCHER, previousLegacy);
      define(GLOBAL_DISPATCHER, new Agent());
    } else if (now === ours) {
      setGlobalDispatcher(new Agent());
    }
  };
}

function define(slot: symbol, dispatcher: Dispatcher): void {
  // The same attributes undici gives the slot, so undici can still replace it later.
  Object.defineProperty(globalThis, slot, { value: dispatcher, writable: true, enumerable: false, configurable: false });
}

interface UndiciRequest {
  origin: string | URL;
  path: string;
  method: string;
  headers: unknown[];
  onResponseError?(error: Error): void;
  onError?(error: Error): void;
}

/**
 * The safety net for requests that never pass the global dispatcher: an application's own
 * `Agent`, `Client` or `Pool` (or one handed to `fetch` as `dispatcher`). undici announces every
 * request on `undici:request:create`, synchronously, so a credential that is already cached can
 * still be placed there. One that is not cannot be fetched in a synchronous callback: such a
 * request fails with an error saying how to wire Tessera into that dispatcher, and the credential
 * is fetched meanwhile so the next attempt finds it.
 */
function subscribeEscapedRequests(gate: RequestGate): () => void {
  let warned = false;
  const onCreate = (message: unknown) => {
    if (dispatching.active) return; // it came through the interceptor
    const request = (message as { request: UndiciRequest }).request;
    try {
      const origin = parseOrigin(request.origin);
      if (origin === undefined) return;
      const outgoing = { ...origin, path: request.path || '/', method: request.method };
      const decision = gate.tryAdmit(outgoing);
      if (decision === undefined) return;
      if (decision === MUST_WAIT || decision.issued.injection.kind === 'aws-sigv4') {
        gate.admit(outgoing).catch(() => {}); // warm the cache; the error is the next attempt's
        const error = new TesseraUnavailableError(
          `a request to a Tessera-managed target went through an undici dispatcher Tessera does not wrap, before a credential was cached; ` +
            `compose Tessera onto it (dispatcher.compose(tessera.interceptor)) or use the global dispatcher`,
        );
        if (!warned) {
          warned = true;
          process.emitWarning(error.message, { code: 'TESSERA_UNWRAPPED_DISPATCHER' });
        }
        if (typeof request.onResponseError === 'function') request.onResponseError(error);
        else request.onError?.(error);
        return;
      }
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
