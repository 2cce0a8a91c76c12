/**
 * Collector half of `azure-managed-identity`: asks the platform for an access token of the
 * workload's managed identity, for the resource the control plane expects (its App ID URI):
 *
 * - Azure VMs, scale sets, AKS nodes, Container Instances: IMDS,
 *   `GET {endpoint}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=...`
 *   with `Metadata: true` (IMDS answers 400 without it, which keeps SSRF'd requests out).
 * - App Service and Functions: `GET $IDENTITY_ENDPOINT?api-version=2019-08-01&resource=...`
 *   with `X-IDENTITY-HEADER: $IDENTITY_HEADER`.
 *
 * `client_id` selects a user-assigned identity. The token's audience is the resource, not the
 * control plane's URL: IMDS only mints tokens for Entra resources.
 *
 * Detection is quiet off Azure: without a configured resource it answers `false` with no I/O;
 * App Service is recognised by its variables; otherwise one probe of IMDS, without the
 * `Metadata` header and with a 300 ms deadline, must get IMDS's 400 answer.
 */
import { type EvidenceCollector, defineEvidenceCollector } from '../../collector-contract.js';
import { TrustError, type TrustErrorCode } from '../../errors.js';
import { MAX_JWT_EVIDENCE_BYTES } from '../jwt/evidence.js';
import { AZURE_MANAGED_IDENTITY_EVIDENCE_TYPE, AZURE_MANAGED_IDENTITY_TYPE } from './evidence.js';
import { readCapped } from '../../http/read-capped.js';

export const AZURE_RESOURCE_ENV = 'TESSERA_AZURE_RESOURCE';
export const AZURE_CLIENT_ID_ENV = 'TESSERA_AZURE_CLIENT_ID';
export const AZURE_IMDS_ENDPOINT_ENV = 'TESSERA_AZURE_IMDS_ENDPOINT';
export const DEFAULT_AZURE_IMDS_ENDPOINT = 'http://169.254.169.254';
export const IMDS_TOKEN_PATH = '/metadata/identity/oauth2/token';
export const IMDS_API_VERSION = '2018-02-01';
export const APP_SERVICE_API_VERSION = '2019-08-01';
/** Longest wait of `detect()` for IMDS. */
export const IMDS_PROBE_TIMEOUT_MS = 300;

export interface AzureManagedIdentityCollectorOptions {
  /** Resource (App ID URI) to request the token for; default `$TESSERA_AZURE_RESOURCE`. */
  resource?: string;
  /** Client id of a user-assigned identity; default `$TESSERA_AZURE_CLIENT_ID`, else the system-assigned one. */
  clientId?: string;
  /** IMDS base URL; default `$TESSERA_AZURE_IMDS_ENDPOINT`, else `http://169.254.169.254`. Setting it skips App Service. */
  imdsEndpoint?: string;
  /** Environment to read the variables from (default `process.env`). */
  env?: Record<string, string | undefined>;
  /** Fetch for the token requests (default the global fetch). */
  fetch?: typeof fetch;
  /** Timeout of each token request, default 5000 ms. */
  timeoutMs?: number;
  /** Retries of a 404, 410, 429 or 5xx answer (IMDS asks for them), default 2. */
  maxRetries?: number;
}

type Source =
  | { kind: 'imds'; endpoint: string }
  | { kind: 'app-service'; endpoint: string; secret: string };

const MAX_RESPONSE_BYTES = 64 * 1024;
const RETRIED_STATUSES = new Set([404, 410, 429, 500, 502, 503, 504]);
/** Compact JWS-looking strings, cut out of any echoed error text. */
const JWT_LIKE = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*)?/g;

function fail(code: TrustErrorCode, message: string): TrustError {
  return new TrustError(code, message, { provider: AZURE_MANAGED_IDENTITY_TYPE });
}

/** http(s), no credentials, query or fragment; returned without a trailing slash. */
function checkEndpoint(value: string, field: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw fail('invalid_config', `${field} must be an absolute URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw fail('invalid_config', `${field} must be an http or https URL`);
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw fail('invalid_config', `${field} must not contain credentials, a query or a fragment`);
  }
  return url.href.replace(/\/+$/, '');
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** IMDS: `{error, error_description}`; App Service: `{statusCode, message}`. Cleaned and cut. */
function describeRefusal(body: Record<string, unknown> | undefined, secret: string | undefined): string {
  if (body === undefined) return '';
  const code = typeof body.error === 'string' ? body.error : undefined;
  const text = typeof body.error_description === 'string' ? body.error_description : typeof body.message === 'string' ? body.message : undefined;
  let detail = [code, text].filter((part): part is string => part !== undefined && part.length > 0).join(': ');
  if (secret !== undefined && secret.length > 0) detail = detail.split(secret).join('[redacted]');
  detail = detail.replace(JWT_LIKE, '[redacted]').replace(/[\x00-\x1F\x7F]+/g, ' ').trim();
  if (detail.length > 200) detail = `${detail.slice(0, 199)}…`;
  return detail.length > 0 ? `: ${detail}` : '';
}

const delay = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

export function createAzureManagedIdentityCollector(options: AzureManagedIdentityCollectorOptions = {}): EvidenceCollector {
  // Read at each call, so variables set after start-up (tests, wrappers) are honoured.
  const env = () => options.env ?? process.env;
  const resource = () => options.resource ?? (env()[AZURE_RESOURCE_ENV] || undefined);
  const clientId = () => options.clientId ?? (env()[AZURE_CLIENT_ID_ENV] || undefined);
  const fetchImpl = () => options.fetch ?? fetch;

  function source(): Source {
    const configured = options.imdsEndpoint ?? (env()[AZURE_IMDS_ENDPOINT_ENV] || undefined);
    if (configured !== undefined) return { kind: 'imds', endpoint: checkEndpoint(configured, options.imdsEndpoint === undefined ? AZURE_IMDS_ENDPOINT_ENV : 'imdsEndpoint') };
    const { IDENTITY_ENDPOINT: endpoint, IDENTITY_HEADER: secret, IDENTITY_SERVER_THUMBPRINT: fabric } = env();
    // Service Fabric sets the same two variables plus a thumbprint, and speaks another protocol.
    if (endpoint && secret && !fabric) return { kind: 'app-service', endpoint: checkEndpoint(endpoint, 'IDENTITY_ENDPOINT'), secret };
    return { kind: 'imds', endpoint: DEFAULT_AZURE_IMDS_ENDPOINT };
  }

  /** IMDS answers 400 to a token request without `Metadata: true`; AWS and GCP metadata servers do not. */
  async function probeImds(endpoint: string): Promise<boolean> {
    try {
      const response = await fetchImpl()(`${endpoint}${IMDS_TOKEN_PATH}?api-version=${IMDS_API_VERSION}`, {
        method: 'GET',
        redirect: 'manual',
        signal: AbortSignal.timeout(IMDS_PROBE_TIMEOUT_MS),
      });
      await response.body?.cancel().catch(() => undefined);
      return response.status === 400;
    } catch {
      return false;
    }
  }

  return defineEvidenceCollector({
    specificationVersion: 'v1',
    type: AZURE_MANAGED_IDENTITY_TYPE,
    evidenceType: AZURE_MANAGED_IDENTITY_EVIDENCE_TYPE,
    async detect() {
      if (resource() === undefined) return false;
      let where: Source;
      try {
        where = source();
      } catch {
        return false;
      }
      return where.kind === 'app-service' ? true : probeImds(where.endpoint);
    },
    async collect(ctx) {
      const target = resource();
      if (target === undefined) {
        throw fail('invalid_config', `no resource to request the token for: set ${AZURE_RESOURCE_ENV} (the App ID URI the control plane expects as audience)`);
      }
      const where = source();
      const client = clientId();
      const query = new URLSearchParams({ 'api-version': where.kind === 'imds' ? IMDS_API_VERSION : APP_SERVICE_API_VERSION, resource: target });
      if (client !== undefined) query.set('client_id', client);
      const url = where.kind === 'imds' ? `${where.endpoint}${IMDS_TOKEN_PATH}?${query}` : `${where.endpoint}?${query}`;
      const headers: Record<string, string> = where.kind === 'imds' ? { Metadata: 'true' } : { 'X-IDENTITY-HEADER': where.secret };
      const what = where.kind === 'imds' ? 'IMDS token request' : 'App Service identity token request';
      const secret = where.kind === 'app-service' ? where.secret : undefined;
      const timeoutMs = options.timeoutMs ?? 5000;
      const maxRetries = options.maxRetries ?? 2;

      for (let attempt = 0; ; attempt += 1) {
        const timeout = AbortSignal.timeout(timeoutMs);
        const signal = ctx.signal === undefined ? timeout : AbortSignal.any([timeout, ctx.signal]);
        let response: Response;
        try {
          response = await fetchImpl()(url, { method: 'GET', headers: { ...headers, accept: 'application/json' }, redirect: 'manual', signal });
        } catch {
          if (ctx.signal?.aborted === true) throw fail('trust_provider_error', `${what} aborted`);
          if (timeout.aborted) throw fail('trust_provider_error', `${what} timed out after ${timeoutMs} ms`);
          throw fail('trust_provider_error', `${what} failed: network error (is this an Azure resource with a managed identity?)`);
        }
        const text = await readText(response).catch(() => undefined);
        if (text === undefined) throw fail('trust_provider_error', `${what} failed: unreadable or oversized response (HTTP ${response.status})`);
        const body = parseObject(text);
        if (response.status === 200) {
          const token = body?.access_token;
          if (typeof token !== 'string' || token.length === 0 || token.length > MAX_JWT_EVIDENCE_BYTES) {
            throw fail('evidence_invalid', `${what} response has no usable "access_token"`);
          }
          return { type: AZURE_MANAGED_IDENTITY_EVIDENCE_TYPE, token };
        }
        if (RETRIED_STATUSES.has(response.status) && attempt < maxRetries && ctx.signal?.aborted !== true) {
          // IMDS: 410 while it updates, 429 when throttled, 5xx transiently; back off a little.
          await delay(100 * 4 ** attempt, ctx.signal ?? new AbortController().signal);
          continue;
        }
        throw fail('trust_provider_error', `${what} failed: HTTP ${response.status}${describeRefusal(body, secret)}`);
      }
    },
  });
}

/** The built-in instance: active when `TESSERA_AZURE_RESOURCE` is set and IMDS or App Service is there. */
export const azureManagedIdentityCollector = /* @__PURE__ */ createAzureManagedIdentityCollector();

async function readText(response: Response): Promise<string | undefined> {
  const body = await readCapped(response, MAX_RESPONSE_BYTES);
  return body === undefined ? undefined : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
}
