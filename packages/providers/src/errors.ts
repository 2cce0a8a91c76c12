/**
 * Typed errors shared by every Tessera package.
 *
 * Each error carries a stable `code` so callers can `switch (error.code)` and the
 * cloud server can map it to an HTTP status and an audit reason. When an error is raised
 * on behalf of a provider, `provider` holds that provider's type and the message is
 * prefixed with it, SPIRE-style: `credential(api-key): secret apiKey is not set`.
 *
 * RULE: a message never contains a token, a secret, a password or a credential value —
 * not even a prefix or a hash of one. Messages end up in logs, audit events and HTTP
 * responses. Name the field ("secret apiKey is not set"), never its content. Pass the
 * underlying error as `cause` only when it cannot carry secret material either.
 *
 * `instanceof` works across duplicate copies of this package (two versions in one
 * `node_modules` tree): each class is branded with a `Symbol.for(...)` key and checks the
 * brand in a static `Symbol.hasInstance`, as undici does in lib/core/errors.js.
 */

export type TesseraErrorCode =
  | 'invalid_config'
  | 'unknown_provider_type'
  | 'duplicate_provider_type'
  | 'evidence_invalid'
  | 'evidence_expired'
  | 'trust_provider_error'
  | 'credential_provider_error'
  | 'condition_error'
  | 'missing_dependency';

export type TrustErrorCode = 'evidence_invalid' | 'evidence_expired' | 'trust_provider_error' | 'invalid_config';
export type CredentialErrorCode = 'credential_provider_error' | 'invalid_config';
export type ConditionErrorCode = 'condition_error' | 'invalid_config';
export type ConfigErrorCode = 'invalid_config' | 'unknown_provider_type' | 'duplicate_provider_type' | 'missing_dependency';

export interface TesseraErrorOptions {
  /** Type of the provider on whose behalf the error is raised, e.g. `api-key`. */
  provider?: string;
  /** Underlying error. It must not hold secret material either. */
  cause?: unknown;
  /** What an upstream call did, for operators only (see `UpstreamFailure`). */
  upstream?: UpstreamFailure;
}

/**
 * A failed call to an upstream a provider was configured with (a token endpoint, STS, a JWKS
 * URL), told to operators: the control plane writes it to its log, never to a workload, an audit
 * event or an API answer. The error's message says only that the call failed, and at most the
 * upstream's registered error code: whether a connection was refused, timed out or answered
 * HTTP 404 would let whoever may configure a URL scan the control plane's network with it, and
 * an upstream's description is free text that may hold anything.
 */
export interface UpstreamFailure {
  /** What was called: origin and path, never a query. */
  endpoint?: string;
  /** The HTTP status, when an answer came. */
  status?: number;
  /** Why no usable answer came, when none did. */
  failure?: 'timeout' | 'network' | 'redirect' | 'too_large' | 'unreadable' | 'refused_url';
  /** The socket error (`ECONNREFUSED`, `ENOTFOUND` ...), when known. */
  networkCode?: string;
  /** The upstream's error code (OAuth `error`, AWS `Code`, a Google status), bounded and cleaned. */
  error?: string;
  /** The upstream's own description: cleaned of known secrets and token-shaped text, cut short. Logged at debug level only. */
  description?: string;
  /** The upstream's id for the request (AWS `RequestId` ...), to quote to its support. */
  requestId?: string;
}

const kTesseraError = Symbol.for('tessera.error');
const kTrustError = Symbol.for('tessera.error.trust');
const kCredentialError = Symbol.for('tessera.error.credential');
const kConditionError = Symbol.for('tessera.error.condition');
const kConfigError = Symbol.for('tessera.error.config');

function hasBrand(value: unknown, brand: symbol): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
}

export class TesseraError extends Error {
  /** Word placed before `(provider)` in messages; subclasses override it. */
  static readonly prefix: string = 'tessera';

  readonly code: TesseraErrorCode;
  readonly provider?: string;
  /** Operator-only details of a failed upstream call; not enumerable, so a serialised error leaves it out. */
  declare readonly upstream?: UpstreamFailure;

  constructor(code: TesseraErrorCode, message: string, options: TesseraErrorOptions = {}) {
    const prefix = (new.target as typeof TesseraError).prefix;
    const text = options.provider === undefined ? message : `${prefix}(${options.provider}): ${message}`;
    super(text, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    if (options.provider !== undefined) this.provider = options.provider;
    if (options.upstream !== undefined) Object.defineProperty(this, 'upstream', { value: options.upstream, enumerable: false });
  }

  static override [Symbol.hasInstance](instance: unknown): instance is TesseraError {
    return hasBrand(instance, kTesseraError);
  }

  get [kTesseraError](): true {
    return true;
  }
}

/** Evidence could not be verified (bad signature, wrong audience, expired ...). */
export class TrustError extends TesseraError {
  static override readonly prefix: string = 'trust';
  declare readonly code: TrustErrorCode;

  constructor(code: TrustErrorCode, message: string, options?: TesseraErrorOptions) {
    super(code, message, options);
  }

  static override [Symbol.hasInstance](instance: unknown): instance is TrustError {
    return hasBrand(instance, kTrustError);
  }

  get [kTrustError](): true {
    return true;
  }
}

/** A credential provider could not issue a credential. */
export class CredentialError extends TesseraError {
  static override readonly prefix: string = 'credential';
  declare readonly code: CredentialErrorCode;

  constructor(code: CredentialErrorCode, message: string, options?: TesseraErrorOptions) {
    super(code, message, options);
  }

  static override [Symbol.hasInstance](instance: unknown): instance is CredentialError {
    return hasBrand(instance, kCredentialError);
  }

  get [kCredentialError](): true {
    return true;
  }
}

/** An access condition could not be evaluated (not "the condition failed": that is a result). */
export class ConditionError extends TesseraError {
  static override readonly prefix: string = 'condition';
  declare readonly code: ConditionErrorCode;

  constructor(code: ConditionErrorCode, message: string, options?: TesseraErrorOptions) {
    super(code, message, options);
  }

  static override [Symbol.hasInstance](instance: unknown): instance is ConditionError {
    return hasBrand(instance, kConditionError);
  }

  get [kConditionError](): true {
    return true;
  }
}

/**
 * Invalid provider configuration or registration (unknown or duplicate type, bad schema ...), or
 * a package a provider needs that is not installed (`missing_dependency`, see optional-dependency.ts).
 */
export class ConfigError extends TesseraError {
  static override readonly prefix: string = 'config';
  declare readonly code: ConfigErrorCode;

  constructor(code: ConfigErrorCode, message: string, options?: TesseraErrorOptions) {
    super(code, message, options);
  }

  static override [Symbol.hasInstance](instance: unknown): instance is ConfigError {
    return hasBrand(instance, kConfigError);
  }

  get [kConfigError](): true {
    return true;
  }
}
