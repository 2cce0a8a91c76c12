import { TesseraConfigurationError, assertSupportedNode } from './errors.js';
import { installGlobalDispatcher } from './intercept/global.js';
import { installHttp2Interception } from './intercept/http2.js';
import { installNodeHttpInterception } from './intercept/node-http/index.js';
import { TIMED_OUT, waitAtMost } from './runtime/bounded-wait.js';
import { consoleLogger } from './runtime/logger.js';
import { lastCloudFailure, Tessera, type CredentialGrant, type CredentialTargetInput, type TesseraOptions } from './runtime/tessera.js';

export interface InitOptions extends TesseraOptions {
  /**
   * What to intercept (default everything): `fetch` covers Node's built-in fetch and npm undici
   * through the global dispatcher; `http` covers `node:http`/`node:https` clients and
   * `node:http2` sessions (gRPC).
   */
  intercept?: { fetch?: boolean; http?: boolean };
  /**
   * How long `init()` (and so the register hook, before the application's first line) waits for
   * the first attestation, default 5 000 ms; `0` does not wait. Past it the application starts
   * anyway, and requests to targets the SDK cannot classify yet wait for the attestation (at most
   * `deadlineMs`), then fail closed.
   */
  startTimeoutMs?: number;
}

export const DEFAULT_START_TIMEOUT_MS = 5_000;

let current: { tessera: Tessera; uninstall: Array<() => void> } | undefined;

/**
 * Starts Tessera for this process: creates the client, installs the interceptors and waits for
 * the first attestation, at most `startTimeoutMs`. A failing or late attestation is logged, not
 * thrown (requests to managed targets wait for it, bounded), except a configuration error — no
 * evidence collector can run here, or a Node.js older than the SDK supports — which is thrown with nothing left installed.
 */
export async function init(options: InitOptions): Promise<Tessera> {
  assertSupportedNode();
  if (current !== undefined) throw new TesseraConfigurationError('invalid_options', 'Tessera is already initialized in this process; call shutdown() first');
  const startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  if (!Number.isFinite(startTimeoutMs) || startTimeoutMs < 0) throw new TesseraConfigurationError('invalid_options', 'startTimeoutMs must be 0 or more milliseconds');
  const logger = options.logger ?? consoleLogger('warn');
  const tessera = new Tessera({ ...options, logger });
  const intercept = options.intercept ?? {};
  const uninstall: Array<() => void> = [];
  try {
    if (intercept.fetch !== false) uninstall.push(installGlobalDispatcher(tessera));
    if (intercept.http !== false) {
      uninstall.push(installNodeHttpInterception(tessera, { logger }));
      uninstall.push(installHttp2Interception(tessera));
    }
  } catch (error) {
    // Refused (another copy of the SDK intercepts already: `already_patched`): nothing stays.
    for (const undo of uninstall.reverse()) undo();
    await tessera.close();
    throw error;
  }
  current = { tessera, uninstall };
  if ((options.attest ?? 'eager') === 'eager') {
    // The attestation the constructor started: no second cloud call. Failures are logged where
    // they are seen; only a configuration error stops the start.
    const outcome = await waitAtMost(
      tessera.ready().then(
        () => undefined,
        (error: unknown) => error,
      ),
      startTimeoutMs,
    );
    if (outcome instanceof TesseraConfigurationError) {
      await shutdown();
      throw outcome;
    }
    if (outcome === TIMED_OUT && startTimeoutMs > 0) {
      const lastFailure = lastCloudFailure(tessera);
      logger.warn(`tessera: not attested within ${startTimeoutMs} ms (start timeout); the application starts now, and requests to managed targets wait for the attestation`, {
        ...(lastFailure !== undefined ? { lastFailure } : {}),
      });
    }
  }
  return tessera;
}

/** Removes the interceptors (every patched global back, last patched first), sends the last request metrics and closes the connection to the cloud. */
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
