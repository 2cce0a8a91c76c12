import { TesseraError, type TesseraErrorOptions } from '@tessera/providers/collect';
import type { InjectionKind } from './types.js';

export type InjectionErrorCode =
  /** This module does not place this kind (aws-sigv4 is the SigV4 signer's job). */
  | 'injection_unsupported'
  /** The credential cannot be placed this way (a token with basic injection ...). */
  | 'credential_kind_mismatch'
  /** The credential holds characters a header or username cannot carry (CR, LF, NUL, `:`). */
  | 'invalid_credential_value'
  /** The injection itself is unusable (a header format without `{token}`). */
  | 'invalid_injection'
  /**
   * The body cannot be covered by a SigV4 signature: a streamed body for a service other than
   * S3 (only S3 accepts UNSIGNED-PAYLOAD), or signed chunks that chain from the replaced signature.
   */
  | 'body_not_signable'
  /**
   * The request names another origin than the connection it would travel on (an HTTP/2
   * `:authority` other than its session's): the credential could reach the wrong server.
   */
  | 'target_mismatch';

const kInjectionError = Symbol.for('tessera.error.injection');

/**
 * `TesseraError` types `code` as the providers' union; injection codes are others. Seen through
 * a constructor type without `code`, the class keeps the runtime chain (and the `tessera.error`
 * brand, so `instanceof TesseraError` holds) while declaring its own narrow union.
 */
const TesseraErrorBase = TesseraError as unknown as new (
  code: string,
  message: string,
  options?: TesseraErrorOptions,
) => Omit<TesseraError, 'code'>;

/**
 * A credential could not be placed on a request. The message names the injection and
 * credential kinds, never a value: messages reach logs and audit events.
 *
 * Branded like the providers' errors so `instanceof` works across duplicate package copies.
 */
export class InjectionError extends TesseraErrorBase {
  declare readonly code: InjectionErrorCode;
  readonly injection: InjectionKind;

  constructor(code: InjectionErrorCode, injection: InjectionKind, message: string) {
    super(code, `inject(${injection}): ${message}`);
    this.injection = injection;
  }

  static override [Symbol.hasInstance](instance: unknown): instance is InjectionError {
    return typeof instance === 'object' && instance !== null && (instance as Record<symbol, unknown>)[kInjectionError] === true;
  }

  get [kInjectionError](): true {
    return true;
  }
}
