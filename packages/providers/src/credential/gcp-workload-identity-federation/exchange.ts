/**
 * One token exchange through google-auth-library's `IdentityPoolClient`: the cloud's JWT goes
 * to Google STS (RFC 8693, `subject_token_type` jwt), and with impersonation the federated
 * token then goes to IAM Credentials `generateAccessToken`.
 *
 * The library is loaded with a dynamic `import()` on first use: the provider catalog is
 * imported at start by the cloud and the SDK, and google-auth-library costs ~150 ms to load.
 *
 * Every HTTP call is routed through the cloud's fetch, to the configured URLs only (see
 * outbound.ts), with gaxios's retries off (the SDK retries; a retry here would only stretch the
 * caller's wait) and its debug logging interceptors off (they log request headers and response
 * bodies, that is bearer tokens). A fresh client is built per exchange, so the library's own
 * token cache never serves anything: caching is the provider's, per client workload.
 */
import type { IdentityPoolClientOptions } from 'google-auth-library';
import { CredentialError } from '../../errors.js';
import { loadOptionalDependency } from '../../optional-dependency.js';
import { DEFAULT_TOKEN_LIFETIME_MS } from '../token-cache.js';
import { GCP_WIF_TYPE, type ParsedGcpWifConfig } from './config.js';
import { createRestrictedFetch } from './outbound.js';

export const JWT_SUBJECT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
/** Google's token responses are a few hundred bytes; anything far larger is not one. */
const MAX_RESPONSE_BYTES = 64 * 1024;

type GoogleAuthModule = typeof import('google-auth-library');

/** Loaded once, at the first exchange; a failed load is retried at the next. */
function loadGoogleAuth(): Promise<GoogleAuthModule> {
  return loadOptionalDependency<GoogleAuthModule>('google-auth-library', { feature: 'the gcp-workload-identity-federation credential provider', install: ['google-auth-library'] });
}

export interface GoogleTokenExchange {
  config: ParsedGcpWifConfig;
  /** The cloud's JWT for this client workload. */
  subjectToken: string;
  fetch: typeof fetch;
  /** When the exchange started, for a federated token's `expires_in`. */
  startedAtMs: number;
  /** Called with each URL requested (the STS token URL, then the impersonation URL). */
  onRequest: (url: string) => void;
}

export interface GoogleAccessToken {
  accessToken: string;
  expiresAtMs: number;
}

function fail(message: string): CredentialError {
  return new CredentialError('credential_provider_error', message, { provider: GCP_WIF_TYPE });
}

/**
 * `BaseExternalAccountClient` builds its STS client with a transporter of its own (default
 * gaxios, which fetches with node-fetch). Swap in ours; if a library upgrade moves the field,
 * fail closed rather than send the JWT around the cloud's fetch.
 */
function routeStsThrough(client: object, transporter: unknown): void {
  const sts = (client as { stsCredential?: unknown }).stsCredential;
  if (typeof sts !== 'object' || sts === null || !('transporter' in sts)) {
    throw fail('google-auth-library has no STS transporter to route through the cloud fetch (unsupported version)');
  }
  (sts as { transporter: unknown }).transporter = transporter;
}

function readAccessToken(token: unknown, data: unknown, exchange: GoogleTokenExchange): GoogleAccessToken {
  const { config, startedAtMs } = exchange;
  const body = typeof data === 'object' && data !== null ? (data as Record<string, unknown>) : {};
  if (typeof token !== 'string' || token.length === 0) {
    throw fail(config.impersonationUrl === undefined ? 'Google STS returned no access_token' : 'IAM Credentials returned no accessToken');
  }
  if (config.impersonationUrl !== undefined) {
    const expiresAtMs = typeof body.expireTime === 'string' ? Date.parse(body.expireTime) : Number.NaN;
    if (!Number.isFinite(expiresAtMs)) throw fail('IAM Credentials returned no valid expireTime');
    return { accessToken: token, expiresAtMs };
  }
  const expiresIn = body.expires_in;
  // Counted from the exchange's start, so the token never outlives what Google meant.
  const lifetimeMs = typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn * 1000 : DEFAULT_TOKEN_LIFETIME_MS;
  return { accessToken: token, expiresAtMs: startedAtMs + lifetimeMs };
}

/** Exchanges the cloud's JWT for a Google access token; throws what the library threw. */
export async function exchangeForGoogleToken(exchange: GoogleTokenExchange): Promise<GoogleAccessToken> {
  const { config, subjectToken } = exchange;
  const { IdentityPoolClient, gaxios } = await loadGoogleAuth();
  const allowed = config.impersonationUrl === undefined ? [config.tokenUrl] : [config.tokenUrl, config.impersonationUrl];
  const transporter = new gaxios.Gaxios({
    fetchImplementation: createRestrictedFetch({ fetch: exchange.fetch, allowed, maxBytes: MAX_RESPONSE_BYTES, onRequest: exchange.onRequest }),
    timeout: config.timeoutMs,
    retryConfig: { retry: 0, noResponseRetries: 0 },
  });
  const options: IdentityPoolClientOptions = {
    type: 'external_account',
    audience: config.audience,
    subject_token_type: JWT_SUBJECT_TOKEN_TYPE,
    token_url: config.tokenUrl,
    scopes: config.scopes,
    subject_token_supplier: { getSubjectToken: async () => subjectToken },
    transporter,
    useAuthRequestParameters: false,
    ...(config.impersonationUrl === undefined
      ? {}
      : {
          service_account_impersonation_url: config.impersonationUrl,
          service_account_impersonation: { token_lifetime_seconds: config.tokenLifetimeSeconds },
        }),
  };
  const client = new IdentityPoolClient(options);
  routeStsThrough(client, transporter);
  const { token, res } = await client.getAccessToken();
  return readAccessToken(token, res?.data, exchange);
}
