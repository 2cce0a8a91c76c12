import type { IssuedCredential } from '../cache/credential-cache.js';
import type { DirectoryEntry } from '../directory/directory.js';

/**
 * The contract between the interceptors (undici dispatcher, node:http) and the SDK runtime.
 * Interceptors describe each outgoing request; the gate says whether it passes untouched or
 * which credential goes on it. One gate per Tessera instance.
 */

/** An outgoing request as the interceptors see it, before any credential is placed. */
export interface OutgoingRequest {
  /** `http` or `https`, without the colon. */
  scheme: string;
  /** Host name or IP address, any case; IPv6 with or without brackets. */
  host: string;
  port: number;
  /** Path plus query, as on the request line. */
  path: string;
  method: string;
}

/** A managed request's admission: the directory entry and the credential to place. */
export interface Grant {
  readonly entry: DirectoryEntry;
  readonly issued: IssuedCredential;
  /** `performance.now()` when the request was admitted, for the latency in the request metrics. */
  readonly startedAt: number;
}

/** `tryAdmit` could not decide without waiting (no directory yet, or no cached credential). */
export const MUST_WAIT: unique symbol = Symbol('tessera.mustWait');

export interface RequestGate {
  /**
   * Synchronous decision for the hot path: `undefined` passes the request untouched, a `Grant`
   * carries a cached credential, `MUST_WAIT` means call `admit()`. Never throws, never calls the
   * cloud.
   */
  tryAdmit(request: OutgoingRequest): Grant | undefined | typeof MUST_WAIT;

  /**
   * The full decision: waits for the first attestation if the directory is not known yet, then
   * for a credential. Resolves `undefined` to pass the request untouched (unmanaged target, a
   * request made by the SDK itself, or `failMode: 'open'` with the cloud unreachable). Rejects
   * with `TesseraAccessDeniedError` (the cloud refused), `TesseraUnavailableError` (no cloud and
   * no cached credential) or `TesseraCloudError`; the request must then not be sent.
   */
  admit(request: OutgoingRequest): Promise<Grant | undefined>;

  /** The target answered 401 to this grant's credential: forget it so the next admit asks anew. */
  rejected(grant: Grant): void;

  /**
   * A granted request finished: `statusCode` when a response arrived, else the error. Feeds the
   * request metrics and diagnostics; never throws.
   */
  finished(grant: Grant, request: OutgoingRequest, statusCode: number | undefined, error?: unknown): void;

  /** Whether this async context is the SDK's own work (attesting, fetching a credential). */
  bypassed(): boolean;
}
