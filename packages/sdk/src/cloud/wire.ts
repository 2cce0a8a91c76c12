import {
  ACCESS_DENIED_CODES,
  TesseraAccessDeniedError,
  TesseraCloudError,
  type AccessDeniedCode,
  type AccessDeniedDetails,
} from '../errors.js';
import { parseRetryAfter } from './retry.js';
import type { CloudResponse } from './transport.js';
import type { IssuedCredential } from '../cache/credential-cache.js';
import type { DirectoryEntry } from '../directory/directory.js';
import type { EdgeCredential, Injection } from '../inject/types.js';

// One definition of each shape the SDK shares: injection, directory entries, issued credentials.
export type { DirectoryEntry, EdgeCredential, Injection, IssuedCredential };

/** Shapes of the edge API's answers (packages/cloud-server/src/edge/routes.ts), read defensively. */

export interface AttestAnswer {
  edgeToken: string;
  expiresAt: Date;
  clientWorkload: { id: string; name: string };
  directory: DirectoryEntry[];
  /** How often the control plane wants request metrics at most (older ones do not say). */
  reportIntervalSeconds?: number;
}

/** The cloud's error body `{code, message, details?}`, when it is one. */
export function cloudError(body: unknown): { code?: string; message?: string; details?: AccessDeniedDetails } {
  if (typeof body !== 'object' || body === null) return {};
  const { code, message, details } = body as Record<string, unknown>;
  return {
    ...(typeof code === 'string' && /^[a-z_]{1,64}$/.test(code) ? { code } : {}),
    ...(typeof message === 'string' ? { message: message.slice(0, 500) } : {}),
    ...(typeof details === 'object' && details !== null ? { details: details as AccessDeniedDetails } : {}),
  };
}

/** A non-200 answer as the error the caller gets: a refusal, or a cloud failure. */
export function refusal(response: CloudResponse, what: string): Error {
  const { code, message, details } = cloudError(response.body);
  const reason = message ? `: ${message}` : '';
  const denied = response.status === 403 || (response.status === 401 && code !== undefined && ACCESS_DENIED_CODES.has(code));
  if (denied) {
    const denyCode = (code !== undefined && ACCESS_DENIED_CODES.has(code) ? code : 'access_denied') as AccessDeniedCode;
    const retryAfterMs = parseRetryAfter(response.retryAfter);
    return new TesseraAccessDeniedError(denyCode, `Tessera denied ${what} (${denyCode})${reason}`, details, {
      ...(message ? { cloudMessage: message } : {}),
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }
  return new TesseraCloudError(`Tessera cloud refused ${what}: HTTP ${response.status}${code ? ` ${code}` : ''}${reason}`, {
    status: response.status,
    ...(code ? { cloudCode: code } : {}),
  });
}

const malformed = (what: string) => new TesseraCloudError(`Tessera cloud sent an unreadable answer to ${what}`, { status: 200 });

const isString = (value: unknown): value is string => typeof value === 'string' && value.length > 0;

function date(value: unknown, what: string): Date {
  const parsed = typeof value === 'string' ? new Date(value) : undefined;
  if (!parsed || Number.isNaN(parsed.getTime())) throw malformed(what);
  return parsed;
}

export function parseAttest(body: unknown): AttestAnswer {
  const what = 'the attestation';
  const b = (body ?? {}) as Record<string, unknown>;
  const client = (b.clientWorkload ?? {}) as Record<string, unknown>;
  if (!isString(b.edgeToken) || !isString(client.id) || !isString(client.name) || !Array.isArray(b.directory)) throw malformed(what);
  const directory = b.directory.map((entry: unknown): DirectoryEntry => {
    const e = (entry ?? {}) as Record<string, unknown>;
    const injection = e.injection as Injection | undefined;
    if (!isString(e.serverWorkloadId) || !isString(e.host) || typeof e.port !== 'number' || (e.scheme !== 'http' && e.scheme !== 'https') || !isString(injection?.kind)) {
      throw malformed(what);
    }
    return {
      serverWorkloadId: e.serverWorkloadId,
      name: String(e.name ?? ''),
      scheme: e.scheme,
      host: e.host,
      port: e.port,
      pathPrefix: isString(e.pathPrefix) ? e.pathPrefix : '/',
      injection,
    };
  });
  const reportIntervalSeconds = interval(b.reportIntervalSeconds);
  return {
    edgeToken: b.edgeToken,
    expiresAt: date(b.expiresAt, what),
    clientWorkload: { id: client.id, name: client.name },
    directory,
    ...(reportIntervalSeconds !== undefined ? { reportIntervalSeconds } : {}),
  };
}

/** The answer to a metrics report: only the interval matters to the SDK. */
export function parseMetricsAnswer(body: unknown): { reportIntervalSeconds?: number } {
  const reportIntervalSeconds = interval((body as { reportIntervalSeconds?: unknown } | undefined)?.reportIntervalSeconds);
  return reportIntervalSeconds !== undefined ? { reportIntervalSeconds } : {};
}

/** A report interval the control plane sent: whole seconds, at most a day; anything else is ignored. */
function interval(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 && value <= 86_400 ? value : undefined;
}

export function parseCredentials(body: unknown): IssuedCredential {
  const what = 'the credentials request';
  const b = (body ?? {}) as Record<string, unknown>;
  const credential = b.credential as EdgeCredential | undefined;
  const injection = b.injection as Injection | undefined;
  const valid =
    (credential?.kind === 'token' && isString(credential.token)) ||
    (credential?.kind === 'basic' && typeof credential.username === 'string' && typeof credential.password === 'string') ||
    (credential?.kind === 'aws' && isString(credential.accessKeyId) && isString(credential.secretAccessKey));
  if (!valid || !isString(injection?.kind) || !isString(b.serverWorkloadId) || !isString(b.policyId)) throw malformed(what);
  return { credential: credential!, injection: injection!, expiresAt: date(b.expiresAt, what).getTime(), serverWorkloadId: b.serverWorkloadId, policyId: b.policyId };
}
