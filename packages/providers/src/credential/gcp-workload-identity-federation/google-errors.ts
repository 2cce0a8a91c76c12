/**
 * Turns a failed token exchange into a `CredentialError`. Its message — which reaches the
 * workload and the audit trail — names the step that failed and, when Google answered one, its
 * registered error code (`invalid_grant`, `PERMISSION_DENIED`); the HTTP status, a network
 * failure and Google's description go to `upstream`, for the control plane's log, with the
 * cloud's JWT and anything shaped like a token redacted even if Google echoes it.
 *
 * The underlying error is never attached as `cause`: gaxios errors hold the request config,
 * whose body holds the `subject_token` (gaxios's own redactor does not know that field), and
 * the request headers, which hold the STS token on the impersonation call.
 */
import { CredentialError, type UpstreamFailure } from '../../errors.js';
import { descriptionForLog, errorCodeForLog, knownErrorCode, OAUTH_ERROR_CODES, upstreamFailure } from '../../http/upstream-failure.js';
import { GCP_WIF_TYPE } from './config.js';
import { OutboundError } from './outbound.js';

export type ExchangeStep = 'sts' | 'iam';

const STEP_NAME: Record<ExchangeStep, string> = {
  sts: 'Google STS token exchange',
  iam: 'IAM Credentials generateAccessToken',
};

/** The error codes a message may name: OAuth's (STS) and Google's canonical statuses (Google APIs). */
const GOOGLE_ERROR_CODES: ReadonlySet<string> = new Set([
  ...OAUTH_ERROR_CODES,
  'INVALID_ARGUMENT',
  'FAILED_PRECONDITION',
  'OUT_OF_RANGE',
  'UNAUTHENTICATED',
  'PERMISSION_DENIED',
  'NOT_FOUND',
  'ABORTED',
  'ALREADY_EXISTS',
  'RESOURCE_EXHAUSTED',
  'CANCELLED',
  'DATA_LOSS',
  'UNKNOWN',
  'INTERNAL',
  'UNIMPLEMENTED',
  'UNAVAILABLE',
  'DEADLINE_EXCEEDED',
]);

function fail(message: string, upstream: UpstreamFailure): CredentialError {
  return new CredentialError('credential_provider_error', message, { provider: GCP_WIF_TYPE, upstream: upstreamFailure(upstream) });
}

/** The first `OutboundError` in an error's cause chain (gaxios wraps what its fetch throws). */
function outboundCause(error: unknown): OutboundError | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth += 1) {
    if (current instanceof OutboundError) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

interface GoogleResponse {
  status?: unknown;
  data?: unknown;
}

/** `{error, error_description}` (STS, OAuth style) or `{error: {status, message}}` (Google APIs). */
function bodyError(data: unknown): { code?: unknown; description?: unknown } {
  if (typeof data !== 'object' || data === null) return {};
  const body = data as { error?: unknown; error_description?: unknown };
  if (typeof body.error === 'object' && body.error !== null) {
    const nested = body.error as { status?: unknown; message?: unknown };
    return { code: nested.status, description: nested.message };
  }
  return { code: body.error, description: body.error_description };
}

/**
 * Maps what google-auth-library threw during `step` (the last request made) to a
 * `CredentialError`. `secrets` are redacted from anything Google sent back.
 */
export function toGoogleCredentialError(error: unknown, step: ExchangeStep | undefined, secrets: readonly string[], endpoint?: string): CredentialError {
  if (error instanceof CredentialError) return error;
  const name = STEP_NAME[step ?? 'sts'];
  const outbound = outboundCause(error);
  if (outbound !== undefined) return fail(`${name} failed`, outbound.upstream);
  const response = typeof error === 'object' && error !== null ? ((error as { response?: GoogleResponse }).response ?? undefined) : undefined;
  if (response !== undefined && typeof response.status === 'number') {
    const { code, description } = bodyError(response.data);
    const known = knownErrorCode(code, GOOGLE_ERROR_CODES);
    return fail(known === undefined ? `${name} failed` : `${name} refused: ${known}`, {
      endpoint,
      status: response.status,
      error: errorCodeForLog(code, secrets),
      ...descriptionForLog(description, secrets),
    });
  }
  return fail(`${name} failed`, { endpoint, failure: 'unreadable' });
}
