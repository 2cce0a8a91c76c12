/**
 * Turns a failed token request into a `CredentialError` whose message is safe to log and
 * audit: the OAuth error code and a truncated description, with the client secret (or
 * private key) redacted even if a server echoes it back. The underlying error is never
 * attached as `cause`: openid-client's errors hold the response, whose body may hold a token.
 */
import { ClientError, ResponseBodyError, WWWAuthenticateChallengeError } from 'openid-client';
import { CredentialError, TesseraError } from '../../errors.js';
import { OAUTH2_CLIENT_CREDENTIALS_TYPE } from './config.js';

export const MAX_DESCRIPTION_LENGTH = 200;

/** RFC 6749 §5.2: error codes are printable ASCII without `"` and `\`. */
const ERROR_CODE = /^[\x20\x21\x23-\x5B\x5D-\x7E]{1,64}$/;

function clean(text: string, secret: string, maxLength: number): string {
  // Redact before truncating, so no prefix of the secret survives the cut.
  const redacted = secret.length > 0 ? text.split(secret).join('[redacted]') : text;
  const flat = redacted.replace(/[\x00-\x1F\x7F]+/g, ' ').trim();
  return flat.length > maxLength ? `${flat.slice(0, maxLength - 1)}…` : flat;
}

function refused(status: number, code: unknown, description: unknown, secret: string): CredentialError {
  const errorCode = typeof code === 'string' && ERROR_CODE.test(code) ? clean(code, secret, 64) : 'unknown_error';
  const detail = typeof description === 'string' && description.length > 0 ? `: ${clean(description, secret, MAX_DESCRIPTION_LENGTH)}` : '';
  return new CredentialError('credential_provider_error', `token endpoint refused: ${errorCode}${detail} (HTTP ${status})`, {
    provider: OAUTH2_CLIENT_CREDENTIALS_TYPE,
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
  timeoutMs: number;
}

export async function toCredentialError(error: unknown, { secret, timeoutMs }: TokenErrorContext): Promise<CredentialError> {
  if (error instanceof CredentialError) return error;
  if (error instanceof ResponseBodyError) return refused(error.status, error.error, error.error_description, secret);
  if (error instanceof WWWAuthenticateChallengeError) {
    // A 401 with a challenge: the OAuth error is in the challenge's parameters or in the body.
    const parameters = error.cause.find((challenge) => challenge.parameters.error !== undefined)?.parameters;
    const { error: code, error_description: description } = parameters ?? (await bodyError(error.response));
    return refused(error.status, code, description, secret);
  }
  const fail = (message: string) =>
    new CredentialError('credential_provider_error', clean(message, secret, 300), { provider: OAUTH2_CLIENT_CREDENTIALS_TYPE });
  if (error instanceof ClientError && error.code === 'OAUTH_TIMEOUT') return fail(`token request timed out after ${timeoutMs} ms`);
  if (error instanceof ClientError && error.code === 'OAUTH_ABORT') return fail('token request aborted');
  // A status that is not an OAuth error (5xx, 3xx ...): openid-client's cause is the Response.
  if (error instanceof ClientError && error.cause instanceof Response) {
    return fail(`token endpoint answered HTTP ${error.cause.status} without an OAuth error`);
  }
  // The cloud's fetch refusing the call (a URL it does not allow ...): its message is safe.
  if (error instanceof ClientError && error.cause instanceof TesseraError) return fail(`token request failed: ${error.cause.message}`);
  if (error instanceof ClientError || error instanceof TypeError) {
    // openid-client's own messages are fixed texts; TypeError covers "fetch failed".
    const code = error instanceof ClientError && typeof error.code === 'string' ? ` (${error.code})` : '';
    return fail(`token request failed: ${error.message}${code}`);
  }
  return fail('token request failed');
}
