/**
 * Turns a failed token exchange into a `CredentialError` whose message is safe to log, audit
 * and return: Google's error code and a cleaned, truncated description, with the cloud's JWT
 * and anything shaped like a JWT or a Google access token removed even if Google echoes it.
 *
 * The underlying error is never attached as `cause`: gaxios errors hold the request config,
 * whose body holds the `subject_token` (gaxios's own redactor does not know that field), and
 * the request headers, which hold the STS token on the impersonation call.
 */
import { CredentialError } from '../../errors.js';
import { GCP_WIF_TYPE } from './config.js';
import { OutboundError } from './outbound.js';

export type ExchangeStep = 'sts' | 'iam';

const STEP_NAME: Record<ExchangeStep, string> = {
  sts: 'Google STS token exchange',
  iam: 'IAM Credentials generateAccessToken',
};

export const MAX_DESCRIPTION_LENGTH = 200;
/** RFC 6749 §5.2 error codes, and Google's `status` names (`PERMISSION_DENIED`). */
const ERROR_CODE = /^[\x20\x21\x23-\x5B\x5D-\x7E]{1,64}$/;
/** A compact JWS: its header is base64url JSON, so it starts with `eyJ` (`{"`); host names do not. */
const JWT_LIKE = /\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;
const GOOGLE_ACCESS_TOKEN = /\bya29\.[A-Za-z0-9_.-]+/g;

export function cleanGoogleText(text: string, secrets: readonly string[], maxLength = MAX_DESCRIPTION_LENGTH): string {
  // Redact before truncating, so no prefix of a secret survives the cut.
  let redacted = text;
  for (const secret of secrets) if (secret.length > 0) redacted = redacted.split(secret).join('[redacted]');
  redacted = redacted.replace(JWT_LIKE, '[redacted]').replace(GOOGLE_ACCESS_TOKEN, '[redacted]');
  const flat = redacted.replace(/[\x00-\x1F\x7F]+/g, ' ').trim();
  return flat.length > maxLength ? `${flat.slice(0, maxLength - 1)}…` : flat;
}

function fail(message: string): CredentialError {
  return new CredentialError('credential_provider_error', message, { provider: GCP_WIF_TYPE });
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
function describeBody(data: unknown, secrets: readonly string[]): string | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const body = data as { error?: unknown; error_description?: unknown };
  let code: unknown = body.error;
  let description: unknown = body.error_description;
  if (typeof body.error === 'object' && body.error !== null) {
    const nested = body.error as { status?: unknown; message?: unknown };
    code = nested.status;
    description = nested.message;
  }
  if (typeof code !== 'string' || !ERROR_CODE.test(code)) return undefined;
  const detail = typeof description === 'string' && description.length > 0 ? `: ${cleanGoogleText(description, secrets)}` : '';
  return `${cleanGoogleText(code, secrets, 64)}${detail}`;
}

/**
 * Maps what google-auth-library threw during `step` (the last request made) to a
 * `CredentialError`. `secrets` are redacted from anything Google sent back.
 */
export function toGoogleCredentialError(error: unknown, step: ExchangeStep | undefined, secrets: readonly string[]): CredentialError {
  if (error instanceof CredentialError) return error;
  const name = STEP_NAME[step ?? 'sts'];
  const outbound = outboundCause(error);
  if (outbound !== undefined) return fail(`${name} failed: ${outbound.message}`);
  const response = typeof error === 'object' && error !== null ? ((error as { response?: GoogleResponse }).response ?? undefined) : undefined;
  if (response !== undefined && typeof response.status === 'number') {
    const described = describeBody(response.data, secrets);
    if (described !== undefined) return fail(`${name} refused: ${described} (HTTP ${response.status})`);
    return fail(`${name} answered HTTP ${response.status} without an error description`);
  }
  return fail(`${name} failed`);
}
