/**
 * Turns a failed `getToken` into a `CredentialError`. Its message — which reaches the workload
 * and the audit trail — says that Entra ID refused the request, with the OAuth error and the
 * AADSTS code (`invalid_client (AADSTS700213)`), or that the request failed; Entra's
 * description (which says what to fix in Azure), the HTTP status and transport failures go to
 * `upstream`, for the control plane's log, with anything shaped like a JWT (the client
 * assertion, an access token) cut out. The underlying error is never attached as `cause`:
 * MSAL's errors may hold the request, whose body holds the assertion.
 */
import { CredentialError, TesseraError, type UpstreamFailure } from '../../errors.js';
import { descriptionForLog, errorCodeForLog, knownErrorCode, OAUTH_ERROR_CODES, upstreamFailure } from '../../http/upstream-failure.js';
import type { AuthorityRequestError } from './authority-client.js';
import { AZURE_WIF_TYPE } from './config.js';

/** The one message for every failure that is not a refusal from Entra ID. */
export const REQUEST_FAILED = 'the token request to Entra ID failed';

/** MSAL's fixed identifiers, e.g. `network_error`, `endpoints_resolution_error`. */
const MSAL_CODE = /^[a-z0-9_]{1,64}$/;
/** Entra's own error number, at the start of its description: `AADSTS700213: ...`. */
const AADSTS = /^AADSTS(\d{4,8}):/;

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

function fail(message: string, upstream: UpstreamFailure): CredentialError {
  return new CredentialError('credential_provider_error', message, { provider: AZURE_WIF_TYPE, upstream: upstreamFailure(upstream) });
}

function fromServerError(error: MsalServerErrorLike, endpoint: string | undefined): CredentialError {
  const description = typeof error.errorMessage === 'string' ? entraDescription(error.errorMessage) : undefined;
  const known = knownErrorCode(error.errorCode, OAUTH_ERROR_CODES);
  const aadsts = description === undefined ? undefined : AADSTS.exec(description)?.[1];
  const message = known === undefined ? REQUEST_FAILED : `Entra ID refused the token request: ${known}${aadsts === undefined ? '' : ` (AADSTS${aadsts})`}`;
  return fail(message, {
    endpoint,
    ...(typeof error.status === 'number' ? { status: error.status } : {}),
    error: errorCodeForLog(error.errorCode),
    ...descriptionForLog(description, []),
  });
}

export interface TokenFailureContext {
  /** The last transport failure the authority client saw during this attempt, if any. */
  transportFailure: AuthorityRequestError | undefined;
  /** The token endpoint's authority (origin and tenant), for the log. */
  endpoint?: string;
}

export function toCredentialError(error: unknown, context: TokenFailureContext): CredentialError {
  for (const link of chain(error)) {
    // Our own failures (signing the assertion, a refused algorithm) travel through MSAL unchanged.
    if (link instanceof CredentialError) return link;
    if (link instanceof TesseraError) return fail(link.message, {});
    if ((link as { name?: unknown }).name === 'ServerError') return fromServerError(link as MsalServerErrorLike, context.endpoint);
  }
  // MSAL replaces transport errors by its own `network_error`; the client told us the reason.
  if (context.transportFailure !== undefined) return fail(REQUEST_FAILED, context.transportFailure.upstream);
  for (const link of chain(error)) {
    const code = (link as { errorCode?: unknown }).errorCode;
    if (typeof code === 'string' && MSAL_CODE.test(code)) return fail(REQUEST_FAILED, { endpoint: context.endpoint, error: code });
  }
  return fail(REQUEST_FAILED, { endpoint: context.endpoint, failure: 'unreadable' });
}
