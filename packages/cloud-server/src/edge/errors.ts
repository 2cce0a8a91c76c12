/**
 * Errors of the edge API, answered as `{code, message, details?}`. Deny codes are stable: the
 * SDK surfaces them as `TesseraAccessDeniedError.code`, and audit events record them as `reason`.
 */
export type EdgeErrorCode =
  | 'invalid_request'
  | 'invalid_dpop_proof'
  | 'dpop_replay'
  | 'replay_cache_full'
  | 'invalid_edge_token'
  | 'unsupported_evidence'
  | 'evidence_invalid'
  | 'evidence_expired'
  | 'trust_provider_error'
  | 'no_client_workload'
  | 'ambiguous_client_workload'
  | 'no_server_workload'
  | 'no_matching_policy'
  | 'trust_provider_mismatch'
  | 'condition_failed'
  | 'credential_provider_error'
  | 'invalid_metrics'
  | 'unknown_server_workload'
  | 'rate_limited';

const STATUS: Record<EdgeErrorCode, number> = {
  invalid_request: 400,
  invalid_dpop_proof: 401,
  dpop_replay: 401,
  replay_cache_full: 503,
  invalid_edge_token: 401,
  unsupported_evidence: 401,
  evidence_invalid: 401,
  evidence_expired: 401,
  trust_provider_error: 502,
  no_client_workload: 403,
  ambiguous_client_workload: 403,
  no_server_workload: 403,
  no_matching_policy: 403,
  trust_provider_mismatch: 403,
  condition_failed: 403,
  credential_provider_error: 403,
  invalid_metrics: 400,
  unknown_server_workload: 400,
  rate_limited: 429,
};

export interface EdgeErrorDetails {
  /** For `condition_failed`: the condition that failed and why. */
  condition?: { id: string; name: string; type: string; reason: string };
  [key: string]: unknown;
}

export interface EdgeErrorOptions {
  /** Sent as `Retry-After` (a 503 or 429 that will clear by itself). */
  retryAfterSeconds?: number;
  /** What caused it, for the server log only. */
  cause?: unknown;
}

export class EdgeError extends Error {
  override name = 'EdgeError';
  readonly statusCode: number;
  readonly retryAfterSeconds?: number;

  constructor(
    readonly code: EdgeErrorCode,
    message: string,
    readonly details?: EdgeErrorDetails,
    options: EdgeErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.statusCode = STATUS[code];
    if (options.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
  }

  toJSON(): { code: EdgeErrorCode; message: string; details?: EdgeErrorDetails } {
    return this.details ? { code: this.code, message: this.message, details: this.details } : { code: this.code, message: this.message };
  }
}
