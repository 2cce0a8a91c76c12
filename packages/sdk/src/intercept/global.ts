import { TesseraConfigurationError } from '../errors.js';
import type { RequestGate } from '../runtime/gate.js';
import { DispatcherSlots } from './dispatcher-slots.js';
import { subscribeEscapedRequests } from './escaped-requests.js';
import { createTesseraInterceptor } from './undici.js';

/** One per process, also across duplicate copies of the SDK: two would wrap every dispatcher twice. */
const kInstalled = Symbol.for('tessera.intercept.global-dispatcher.installed');

/**
 * Puts Tessera on top of Node's global undici dispatcher — the one installed now, and any the
 * application sets later (a `ProxyAgent` or `EnvHttpProxyAgent` keeps doing its job underneath)
 * — so Node's built-in `fetch` and npm undici's `fetch`/`request`/`stream` go through it; and
 * subscribes the safety net for requests sent through dispatchers of the application's own.
 * Returns the uninstall function: the application's latest dispatchers go back in place, and
 * any Tessera-composed one the application kept passes requests untouched from then on.
 */
export function installGlobalDispatcher(gate: RequestGate): () => void {
  const registry = globalThis as unknown as Record<symbol, unknown>;
  if (registry[kInstalled] === true) {
    throw new TesseraConfigurationError('invalid_options', 'the global undici dispatcher is already intercepted in this process; uninstall it first');
  }
  let installed = true;
  const whileInstalled: RequestGate = {
    tryAdmit: (request) => (installed ? gate.tryAdmit(request) : undefined),
    admit: (request) => (installed ? gate.admit(request) : Promise.resolve(undefined)),
    rejected: (grant) => gate.rejected(grant),
    finished: (grant, request, statusCode, error) => gate.finished(grant, request, statusCode, error),
    bypassed: () => gate.bypassed(),
  };
  const slots = new DispatcherSlots(createTesseraInterceptor(whileInstalled));
  slots.install();
  registry[kInstalled] = true;
  const unsubscribe = subscribeEscapedRequests(whileInstalled, () => slots.adopt());
  return () => {
    if (!installed) return;
    installed = false;
    unsubscribe();
    slots.restore();
    delete registry[kInstalled];
  };
}
