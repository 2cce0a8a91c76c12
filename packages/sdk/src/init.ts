import { TesseraConfigurationError, assertSupportedNode } from './errors.js';
import { installGlobalDispatcher } from './intercept/global.js';
import { installNodeHttpInterception } from './intercept/node-http.js';
import { Tessera, type CredentialGrant, type CredentialTargetInput, type TesseraOptions } from './runtime/tessera.js';

export interface InitOptions extends TesseraOptions {
  /**
   * What to intercept (default everything): `fetch` covers Node's built-in fetch and npm undici
   * through the global dispatcher; `http` covers `node:http`/`node:https` clients.
   */
  intercept?: { fetch?: boolean; http?: boolean };
}

let current: { tessera: Tessera; uninstall: Array<() => void> } | undefined;

/**
 * Starts Tessera for this process: creates the client, installs the interceptors and waits for
 * the first attestation. A failing attestation is logged, not thrown (requests to managed
 * targets wait for the next one), except a configuration error — no evidence collector can run
 * here, or a Node.js older than the SDK supports — which is thrown with nothing left installed.
 */
export async function init(options: InitOptions): Promise<Tessera> {
  assertSupportedNode();
  if (current !== undefined) throw new TesseraConfigurationError('invalid_options', 'Tessera is already initialized in this process; call shutdown() first');
  const tessera = new Tessera(options);
  const intercept = options.intercept ?? {};
  const uninstall: Array<() => void> = [];
  if (intercept.fetch !== false) uninstall.push(installGlobalDispatcher(tessera));
  if (intercept.http !== false) uninstall.push(installNodeHttpInterception(tessera));
  current = { tessera, uninstall };
  if ((options.attest ?? 'eager') === 'eager') {
    try {
      await tessera.ready();
    } catch (error) {
      if (error instanceof TesseraConfigurationError) {
        await shutdown();
        throw error;
      }
      // Logged by the client; managed requests wait for (or fail with) the next attempt.
      // The same in-flight attestation the constructor started: no second cloud call.
    }
  }
  return tessera;
}

/** Removes the interceptors, sends the queued edge events and closes the connection to the cloud. */
export async function shutdown(): Promise<void> {
  const running = current;
  if (running === undefined) return;
  current = undefined;
  for (const undo of running.uninstall.reverse()) undo();
  await running.tessera.close();
}

/** The running instance, or `undefined` before `init()`. */
export function tessera(): Tessera | undefined {
  return current?.tessera;
}

/** `getCredential` of the instance `init()` started. */
export function getCredential(target: CredentialTargetInput): Promise<CredentialGrant> {
  if (current === undefined) return Promise.reject(new TesseraConfigurationError('invalid_options', 'Tessera is not initialized: call init() first'));
  return current.tessera.getCredential(target);
}
