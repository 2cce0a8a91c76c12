/**
 * Turns a failed `getToken` into a `CredentialError` that is safe to log and audit. Entra's
 * answer (its OAuth error, the AADSTS code and description) is kept, since it says what to fix
 * in Azure (`AADSTS700213: No matching federated identity record found for presented assertion
 * subject ...`); anything shaped like a JWT (the client assertion, an access token) is cut out
 * of it, and the underlying error is never attached as `cause`: MSAL's errors may hold the
 * request, whose body holds the assertion.
 */
import { CredentialError, TesseraError } from '../../errors.js';
import type { AuthorityRequestError } from './authority-client.js';
import { AZURE_WIF_TYPE } from './config.js';

export const MAX_DESCRIPTION_LENGTH = 400;

/** Compact JWS/JWE-looking strings: redacted wherever they appear. */
const JWT_LIKE = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*){1,3}/g;
/** RFC 6749 §5.2 error codes: printable ASCII without `"` and `\`. */
const ERROR_CODE = /^[\x20\x21\x23-\x5B\x5D-\x7E]{1,64}$/;
/** MSAL's fixed identifiers, e.g. `network_error`, `endpoints_resolution_error`. */
const MSAL_CODE = /^[a-z0-9_]{1,64}$/;

export function redact(text: string, maxLength = MAX_DESCRIPTION_LENGTH): string {
  const flat = text.replace(JWT_LIKE, '[redacted]').replace(/[\x00-\x1F\x7F]+/g, ' ').replace(/ {2,}/g, ' ').trim();
  return flat.length > maxLength ? `${flat.slice(0, maxLength - 1)}…` : flat;
}

interface MsalServerErrorLike {
  name: 'ServerError';
  errorCode?: unknown;
  errorMessage?: unknown;
  status?: unknown;
}

/** The error and what it wraps (`cause`, or MSAL's `error`), a few levels deep. */
function* chain(error: unknown): Generator<unknown> {
  let current = error;
  for (let depth = 0; depth < 6 && typeof current === 'object' && current !== null; depth += 1) {
    yield current;
    const next = (current as { cause?: unknown }).cause ?? (current as { error?: unknown }).error;
    if (next === current) break;
    current = next;
  }
}

/**
 * MSAL's ServerError message reads `Error(s): 700213 - Timestamp: … - Description: <Entra's
 * error_description> - Correlation ID: … - Trace ID: …`; the description is the useful part.
 */
function entraDescription(errorMessage: string): string {
  const start = errorMessage.indexOf('Description: ');
  if (start < 0) return errorMessage;
  const rest = errorMessage.slice(start + 'Description: '.length);
  const end = rest.lastIndexOf(' - Correlation ID: ');
  return end < 0 ? rest : rest.slice(0, end);
}

function fromServerError(error: MsalServerErrorLike): CredentialError {
  const code = typeof error.errorCode === 'string' && ERROR_CODE.test(error.errorCode) ? error.errorCode : 'unknown_error';
  const description = typeof error.errorMessage === 'string' && error.errorMessage.length > 0 ? `: ${redact(entraDescription(error.errorMessage))}` : '';
  const status = typeof error.status === 'number' ? ` (HTTP ${error.status})` : '';
  return new CredentialError('credential_provider_error', `Entra ID refused the token request: ${code}${description}${status}`, { provider: AZURE_WIF_TYPE });
}

export interface TokenFailureContext {
  /** The last transport failure the authority client saw during this attempt, if any. */
  transportFailure: AuthorityRequestError | undefined;
}

export function toCredentialError(error: unknown, context: TokenFailureContext): CredentialError {
  const fail = (message: string) => new CredentialError('credential_provider_error', message, { provider: AZURE_WIF_TYPE });
  for (const link of chain(error)) {
    // Our own failures (signing the assertion, a refused algorithm) travel through MSAL unchanged.
    if (link instanceof CredentialError) return link;
    if (link instanceof TesseraError) return fail(link.message);
    if ((link as { name?: unknown }).name === 'ServerError') return fromServerError(link as MsalServerErrorLike);
  }
  // MSAL replaces transport errors by its own `network_error`; the client told us the reason.
  if (context.transportFailure !== undefined) return fail(`token request failed: ${context.transportFailure.message}`);
  let innermost = 'unknown error';
  for (const link of chain(error)) {
    const code = (link as { errorCode?: unknown }).errorCode;
    if (typeof code === 'string' && MSAL_CODE.test(code)) return fail(`token request failed: ${code}`);
    const name = (link as { name?: unknown }).name;
    if (typeof name === 'string' && /^[A-Za-z]{1,40}$/.test(name)) innermost = name;
  }
  // Only the class name: a message of unknown origin might quote the request.
  return fail(`token request failed (${innermost})`);
}
