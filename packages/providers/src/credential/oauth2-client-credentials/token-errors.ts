/**
 * Turns a failed token request into a `CredentialError`. Its message — which reaches the
 * workload and the audit trail — says only that no token came, and the OAuth error code when
 * the server answered a registered one (`invalid_client`); HTTP statuses, network failures and
 * the server's `error_description` go to `upstream`, for the control plane's log, with the
 * client secret (or private key) redacted even if a server echoes it back. The underlying error
 * is never attached as `cause`: openid-client's errors hold the response, whose body may hold a
 * token.
 */
import { ClientError, ResponseBodyError, WWWAuthenticateChallengeError } from 'openid-client';
import { CredentialError, TesseraError, type UpstreamFailure } from '../../errors.js';
import { descriptionForLog, errorCodeForLog, fetchFailure, knownErrorCode, OAUTH_ERROR_CODES, upstreamFailure } from '../../http/upstream-failure.js';
import { OAUTH2_CLIENT_CREDENTIALS_TYPE } from './config.js';

/** The one message for every failure that is not a registered OAuth refusal. */
export const NO_TOKEN = 'no token from the token endpoint';

function failure(message: string, upstream: UpstreamFailure): CredentialError {
  return new CredentialError('credential_provider_error', message, { provider: OAUTH2_CLIENT_CREDENTIALS_TYPE, upstream: upstreamFailure(upstream) });
}

function refused(endpoint: string | undefined, status: number, code: unknown, description: unknown, secret: string): CredentialError {
  const known = knownErrorCode(code, OAUTH_ERROR_CODES);
  return failure(known === undefined ? NO_TOKEN : `the token endpoint refused the request: ${known}`, {
    endpoint,
    status,
    error: errorCodeForLog(code, [secret]),
    ...descriptionForLog(description, [secret]),
  });
}

/** The OAuth error in a response body, read at most once and only if it is JSON. */
async function bodyError(response: Response): Promise<{ error?: unknown; error_description?: unknown }> {
  try {
    if (response.bodyUsed || !(response.headers.get('content-type') ?? '').includes('json')) return {};
    const body: unknown = await response.json();
    return typeof body === 'object' && body !== null ? body : {};
  } catch {
    return {};
  }
}

export interface TokenErrorContext {
  /** The client secret or private key PEM, to redact. */
  secret: string;
  /** The token endpoint (or the issuer, when it is discovered): origin and path. */
  endpoint: string | undefined;
}

export async function toCredentialError(error: unknown, { secret, endpoint }: TokenErrorContext): Promise<CredentialError> {
  if (error instanceof CredentialError) return error;
  if (error instanceof ResponseBodyError) return refused(endpoint, error.status, error.error, error.error_description, secret);
  if (error instanceof WWWAuthenticateChallengeError) {
    // A 401 with a challenge: the OAuth error is in the challenge's parameters or in the body.
    const parameters = error.cause.find((challenge) => challenge.parameters.error !== undefined)?.parameters;
    const { error: code, error_description: description } = parameters ?? (await bodyError(error.response));
    return refused(endpoint, error.status, code, description, secret);
  }
  if (error instanceof ClientError && error.code === 'OAUTH_TIMEOUT') return failure(NO_TOKEN, { endpoint, failure: 'timeout' });
  if (error instanceof ClientError && error.code === 'OAUTH_ABORT') return failure(NO_TOKEN, { endpoint, failure: 'timeout' });
  // A status that is not an OAuth error (5xx, 3xx, 404 ...): openid-client's cause is the Response,
  // whose body may still say something useful to the operator.
  if (error instanceof ClientError && error.cause instanceof Response) {
    const { error: code, error_description: description } = await bodyError(error.cause);
    return failure(NO_TOKEN, { endpoint, status: error.cause.status, error: errorCodeForLog(code, [secret]), ...descriptionForLog(description, [secret]) });
  }
  // The cloud's fetch refusing the call (an oversized answer ...).
  if (error instanceof ClientError && error.cause instanceof TesseraError) return failure(NO_TOKEN, { endpoint, failure: 'unreadable' });
  if (error instanceof ClientError && typeof error.code === 'string') {
    // openid-client refused what came back (not JSON, a required field missing ...); its code says what.
    return failure(NO_TOKEN, { endpoint, failure: 'unreadable', error: errorCodeForLog(error.code) });
  }
  // "fetch failed" and the like: refused, reset, unknown host ...
  return failure(NO_TOKEN, { endpoint, ...fetchFailure(error, false) });
}
