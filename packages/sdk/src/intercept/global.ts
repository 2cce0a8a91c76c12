import type { RequestGate } from '../runtime/gate.js';
import { DispatcherSlots } from './dispatcher-slots.js';
import { subscribeEscapedRequests } from './escaped-requests.js';
import { createTesseraInterceptor } from './undici.js';

/**
 * Puts Tessera on top of Node's global undici dispatcher — the one installed now, and any the
 * application sets later (a `ProxyAgent` or `EnvHttpProxyAgent` keeps doing its job underneath)
 * — so Node's built-in `fetch` and npm undici's `fetch`/`request`/`stream` go through it; and
 * subscribes the safety net for requests sent through dispatchers of the application's own.
 * Returns the uninstall function: the application's latest dispatchers go back in place, and
 * any Tessera-composed one the application kept passes requests untouched from then on.
 * Installing twice in one process (also from a duplicate copy of the SDK: every dispatcher would
 * be wrapped twice) is refused by the patch registry (`already_patched`).
 */
export function installGlobalDispatcher(gate: RequestGate): () => void {
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
  const unsubscribe = subscribeEscapedRequests(whileInstalled, () => slots.adopt());
  return () => {
    if (!installed) return;
    installed = false;
    unsubscribe();
    slots.restore();
  };
}
