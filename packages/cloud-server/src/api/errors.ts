/**
 * Every error the HTTP API answers is `{ code, message, details? }` with a stable `code`.
 * Messages are written for humans and never carry a secret, a token or a stack trace.
 */

export type ApiErrorCode =
  | 'invalid_json'
  | 'json_too_deep'
  | 'invalid_request'
  | 'headers_too_large'
  | 'request_timeout'
  | 'unsupported_media_type'
  | 'payload_too_large'
  | 'validation_failed'
  | 'invalid_reference'
  | 'immutable_field'
  | 'invalid_id'
  | 'invalid_cursor'
  | 'unauthorized'
  | 'forbidden'
  | 'secret_delivery_forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'name_taken'
  | 'still_referenced'
  | 'conflict'
  | 'last_admin_key'
  | 'secrets_required_for_destination_change'
  | 'unavailable'
  | 'internal_error';

export interface ApiErrorDetail {
  /** JSON pointer into the request (`/body/config/audience`), when the error is about one field. */
  path?: string;
  message: string;
  /** For `still_referenced`: the objects that hold the reference. */
  id?: string;
  kind?: string;
}

const STATUS: Record<ApiErrorCode, number> = {
  invalid_json: 400,
  json_too_deep: 400,
  invalid_request: 400,
  headers_too_large: 431,
  request_timeout: 408,
  unsupported_media_type: 415,
  payload_too_large: 413,
  validation_failed: 400,
  invalid_reference: 400,
  immutable_field: 400,
  invalid_id: 400,
  invalid_cursor: 400,
  unauthorized: 401,
  forbidden: 403,
  secret_delivery_forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  name_taken: 409,
  still_referenced: 409,
  conflict: 409,
  last_admin_key: 409,
  secrets_required_for_destination_change: 400,
  unavailable: 503,
  internal_error: 500,
};

export class ApiError extends Error {
  override name = 'ApiError';
  readonly statusCode: number;

  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly details?: ApiErrorDetail[],
  ) {
    super(message);
    this.statusCode = STATUS[code];
  }

  toJSON(): { code: ApiErrorCode; message: string; details?: ApiErrorDetail[] } {
    return this.details?.length
      ? { code: this.code, message: this.message, details: this.details }
      : { code: this.code, message: this.message };
  }
}

export function validationError(details: ApiErrorDetail[]): ApiError {
  const first = details[0];
  const summary = first ? `${first.path ?? 'request'}: ${first.message}` : 'the request is not valid';
  return new ApiError('validation_failed', `Invalid request — ${summary}`, details);
}

export function notFound(what: string): ApiError {
  return new ApiError('not_found', `${what} not found`);
}
