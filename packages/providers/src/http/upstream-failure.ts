/**
 * Helpers for saying what went wrong with an upstream call without saying too much (see
 * `UpstreamFailure` in errors.ts): the registered error codes a message may name, the cleaning
 * of upstream text for the operator's log, and the kind of a fetch failure.
 */
import type { UpstreamFailure } from '../errors.js';

/**
 * OAuth 2.0 token endpoint error codes (RFC 6749 §5.2, RFC 8693 §2.2.2 and RFC 8707
 * `invalid_target`, RFC 9449 DPoP). Not `server_error` nor `temporarily_unavailable`: client
 * libraries make those up for any HTTP 5xx, so naming them would tell a failing server from an
 * unreachable one.
 */
export const OAUTH_ERROR_CODES: ReadonlySet<string> = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'invalid_target',
  'invalid_dpop_proof',
  'use_dpop_nonce',
]);

/**
 * AWS STS error codes (AssumeRoleWithWebIdentity, GetCallerIdentity and the common ones). Not
 * `InternalFailure` nor `ServiceUnavailable`, which say no more than a failed call.
 */
export const AWS_STS_ERROR_CODES: ReadonlySet<string> = new Set([
  'AccessDenied',
  'ExpiredToken',
  'ExpiredTokenException',
  'IDPCommunicationError',
  'IDPRejectedClaim',
  'IncompleteSignature',
  'InvalidAction',
  'InvalidClientTokenId',
  'InvalidIdentityToken',
  'InvalidParameterCombination',
  'InvalidParameterValue',
  'MalformedPolicyDocument',
  'MissingAuthenticationToken',
  'MissingParameter',
  'OptInRequired',
  'PackedPolicyTooLarge',
  'RegionDisabledException',
  'RequestExpired',
  'SignatureDoesNotMatch',
  'Throttling',
  'ValidationError',
]);

/** Short printable text without quotes or backslashes: the shape of every upstream error code. */
const CODE_SHAPE = /^[\x20\x21\x23-\x5B\x5D-\x7E]{1,64}$/;
/** A compact JWS or JWE, wherever it appears: an assertion or a token an upstream echoed. */
const JWT_LIKE = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*){1,3}/g;
/** A Google OAuth access token. */
const GOOGLE_ACCESS_TOKEN = /\bya29\.[A-Za-z0-9_.-]+/g;
/** A Tessera admin key. */
const ADMIN_KEY = /tsk_[A-Za-z0-9_-]+/g;

export const MAX_DESCRIPTION_LENGTH = 200;

/** The upstream's error code when it is one of `known`: the only upstream text a message may carry. */
export function knownErrorCode(value: unknown, known: ReadonlySet<string>): string | undefined {
  return typeof value === 'string' && known.has(value) ? value : undefined;
}

/** An upstream error code for the operator's log: any short code, cleaned; undefined otherwise. */
export function errorCodeForLog(value: unknown, secrets: readonly string[] = []): string | undefined {
  return typeof value === 'string' && CODE_SHAPE.test(value) ? cleanUpstreamText(value, secrets, 64) : undefined;
}

/**
 * Text from an upstream, made fit for the operator's log: the given secrets and anything shaped
 * like a token replaced by `[redacted]` (before cutting, so no prefix survives), control
 * characters flattened, cut to `maxLength`.
 */
export function cleanUpstreamText(text: string, secrets: readonly string[], maxLength = MAX_DESCRIPTION_LENGTH): string {
  let redacted = text;
  for (const secret of secrets) if (secret.length > 0) redacted = redacted.split(secret).join('[redacted]');
  redacted = redacted.replace(JWT_LIKE, '[redacted]').replace(GOOGLE_ACCESS_TOKEN, '[redacted]').replace(ADMIN_KEY, '[redacted]');
  const flat = redacted.replace(/[\x00-\x1F\x7F]+/g, ' ').replace(/ {2,}/g, ' ').trim();
  return flat.length > maxLength ? `${flat.slice(0, maxLength - 1)}…` : flat;
}

/** An upstream's description for the log (`{description}` or nothing). */
export function descriptionForLog(value: unknown, secrets: readonly string[]): Pick<UpstreamFailure, 'description'> {
  return typeof value === 'string' && value.length > 0 ? { description: cleanUpstreamText(value, secrets) } : {};
}

/** Origin and path only: a query string might hold something an operator did not mean to log. */
export function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return 'an invalid URL';
  }
}

/** Why a fetch threw: a timeout when `timedOut`, else a network failure with the socket error's code. */
export function fetchFailure(error: unknown, timedOut: boolean): Pick<UpstreamFailure, 'failure' | 'networkCode'> {
  if (timedOut || (error as { name?: unknown } | undefined)?.name === 'TimeoutError') return { failure: 'timeout' };
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z0-9_]{2,40}$/.test(code)) return { failure: 'network', networkCode: code };
    current = (current as { cause?: unknown }).cause;
  }
  return { failure: 'network' };
}

/** `upstream` without the fields that are undefined. */
export function upstreamFailure(fields: UpstreamFailure): UpstreamFailure {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as UpstreamFailure;
}
