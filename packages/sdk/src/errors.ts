/**
 * Errors the SDK raises, each with a stable `code` so callers can `switch (error.code)`.
 *
 * They extend the providers' `TesseraError`, so `error instanceof TesseraError` catches every
 * Tessera failure, and each class is branded with a `Symbol.for(...)` key checked by a static
 * `Symbol.hasInstance`, so `instanceof` works across duplicate copies of the SDK (as in undici).
 *
 * RULE: a message never holds an edge token, a credential or evidence; name the thing, never
 * its value. The cloud's own messages are safe to repeat: the edge API promises the same.
 */
import { ConfigError, TesseraError, type TesseraErrorOptions } from '@tessera/providers/collect';
import { unsupportedNodeMessage } from './node-version.js';

export { TesseraError, type TesseraErrorCode } from '@tessera/providers/collect';

/** The cloud's reasons for refusing a workload, as sent by the edge API. */
export type AccessDeniedCode =
  | 'no_server_workload'
  | 'no_matching_policy'
  | 'trust_provider_mismatch'
  | 'condition_failed'
  | 'credential_provider_error'
  | 'no_client_workload'
  | 'ambiguous_client_workload'
  | 'evidence_invalid'
  | 'evidence_expired'
  | 'unsupported_evidence'
  /** A refusal whose reason this SDK version does not know yet. */
  | 'access_denied';

export type ConfigurationErrorCode = 'invalid_options' | 'no_evidence_collector' | 'unsupported_node' | 'missing_dependency' | 'already_patched';

export type SdkErrorCode = AccessDeniedCode | ConfigurationErrorCode | 'cloud_unavailable' | 'cloud_error';

export const ACCESS_DENIED_CODES: ReadonlySet<string> = new Set<AccessDeniedCode>([
  'no_server_workload',
  'no_matching_policy',
  'trust_provider_mismatch',
  'condition_failed',
  'credential_provider_error',
  'no_client_workload',
  'ambiguous_client_workload',
  'evidence_invalid',
  'evidence_expired',
  'unsupported_evidence',
  'access_denied',
]);

/** What the cloud adds to a refusal, e.g. the condition that failed. */
export interface AccessDeniedDetails {
  condition?: { id: string; name: string; type: string; reason: string };
  [key: string]: unknown;
}

const kAccessDenied = Symbol.for('tessera.error.sdk.access_denied');
const kUnavailable = Symbol.for('tessera.error.sdk.unavailable');
const kConfiguration = Symbol.for('tessera.error.sdk.configuration');
const kCloud = Symbol.for('tessera.error.sdk.cloud');

function hasBrand(value: unknown, brand: symbol): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
}

/**
 * `TesseraError` types `code` as the providers' union; SDK codes are others. The base is seen
 * through a constructor type without `code`, so each SDK class declares its own narrow union
 * while the runtime prototype chain (and the `tessera.error` brand) stays the providers' class.
 */
const SdkErrorBase = TesseraError as unknown as new (
  code: string,
  message: string,
  options?: TesseraErrorOptions,
) => Omit<TesseraError, 'code'>;

/** The cloud refused: the request must not be sent. `code` is the cloud's reason. */
export class TesseraAccessDeniedError extends SdkErrorBase {
  declare readonly code: AccessDeniedCode;
  readonly details?: AccessDeniedDetails;
  /** The cloud's own words for the refusal, when it gave some (part of `message` too). */
  readonly cloudMessage?: string;
  /** How long the cloud said this refusal stands (its `Retry-After`), when it said. */
  readonly retryAfterMs?: number;

  constructor(code: AccessDeniedCode, message: string, details?: AccessDeniedDetails, options: { cloudMessage?: string; retryAfterMs?: number } = {}) {
    super(code, message);
    if (details !== undefined) this.details = details;
    if (options.cloudMessage !== undefined) this.cloudMessage = options.cloudMessage;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
  }

  static override [Symbol.hasInstance](instance: unknown): instance is TesseraAccessDeniedError {
    return hasBrand(instance, kAccessDenied);
  }

  get [kAccessDenied](): true {
    return true;
  }
}

/** The cloud could not be reached within the deadline (fail closed: nothing is sent). */
export class TesseraUnavailableError extends SdkErrorBase {
  declare readonly code: 'cloud_unavailable';

  constructor(message: string, options: { cause?: unknown } = {}) {
    super('cloud_unavailable', message, options);
  }

  static override [Symbol.hasInstance](instance: unknown): instance is TesseraUnavailableError {
    return hasBrand(instance, kUnavailable);
  }

  get [kUnavailable](): true {
    return true;
  }
}

/** The SDK was set up wrongly, or this environment offers no evidence to attest with. */
export class TesseraConfigurationError extends SdkErrorBase {
  declare readonly code: ConfigurationErrorCode;

  constructor(code: ConfigurationErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }

  static override [Symbol.hasInstance](instance: unknown): instance is TesseraConfigurationError {
    return hasBrand(instance, kConfiguration);
  }

  get [kConfiguration](): true {
    return true;
  }
}

/**
 * A package that this workload's collector (or an aws-sigv4 target) needs and that is not
 * installed, as the providers report it, becomes the SDK's `missing_dependency` configuration
 * error, with the same message: it names the `npm install` to run. `undefined` for any other error.
 */
export function missingDependency(error: unknown): TesseraConfigurationError | undefined {
  if (!(error instanceof ConfigError) || error.code !== 'missing_dependency') return undefined;
  return new TesseraConfigurationError('missing_dependency', error.message, { cause: error });
}

/** Throws `unsupported_node` on a Node.js older than the SDK supports (see node-version.ts). */
export function assertSupportedNode(): void {
  const problem = unsupportedNodeMessage();
  if (problem !== undefined) throw new TesseraConfigurationError('unsupported_node', problem);
}

/**
 * The cloud answered, but not with a decision: a request it calls malformed (400), a server
 * error (500), an answer the SDK cannot read, or an edge token still refused after re-attesting.
 * Not retried; `status` and `cloudCode` say what came back.
 */
export class TesseraCloudError extends SdkErrorBase {
  declare readonly code: 'cloud_error';
  readonly status: number | undefined;
  readonly cloudCode: string | undefined;

  constructor(message: string, options: { status?: number; cloudCode?: string } = {}) {
    super('cloud_error', message);
    this.status = options.status;
    this.cloudCode = options.cloudCode;
  }

  static override [Symbol.hasInstance](instance: unknown): instance is TesseraCloudError {
    return hasBrand(instance, kCloud);
  }

  get [kCloud](): true {
    return true;
  }
}
