/**
 * One client-credentials token request through openid-client: builds the `Configuration`
 * (from discovery or from the configured token endpoint), routes every HTTP call through
 * the cloud's `fetch`, and allows plain http only when the configured endpoint is loopback.
 *
 * Discovered metadata is kept per issuer for an hour, so a token miss costs one request.
 */
import {
  allowInsecureRequests,
  clientCredentialsGrant,
  Configuration,
  customFetch,
  discovery,
  type ClientAuth,
  type CustomFetch,
  type ServerMetadata,
} from 'openid-client';
import { CredentialError } from '../../errors.js';
import { parseEndpointUrl } from '../../http/endpoint-url.js';
import { OAUTH2_CLIENT_CREDENTIALS_TYPE, type ParsedOAuth2Config } from './config.js';

const METADATA_TTL_MS = 60 * 60_000;
const MAX_METADATA_ENTRIES = 100;

export interface TokenResponse {
  accessToken: string;
  /** `expires_in` in seconds, when the server sent it. */
  expiresInSeconds: number | undefined;
}

export interface TokenRequestOptions {
  config: ParsedOAuth2Config;
  auth: ClientAuth;
  fetch: typeof fetch;
  nowMs: number;
}

/** Discovered server metadata per issuer, bounded; a failed discovery is not kept. */
export class MetadataCache {
  private readonly entries = new Map<string, { metadata: ServerMetadata; expiresAtMs: number }>();

  get(issuer: string, nowMs: number): ServerMetadata | undefined {
    const entry = this.entries.get(issuer);
    if (entry !== undefined && entry.expiresAtMs > nowMs) return entry.metadata;
    this.entries.delete(issuer);
    return undefined;
  }

  set(issuer: string, metadata: ServerMetadata, nowMs: number): void {
    this.entries.delete(issuer);
    this.entries.set(issuer, { metadata, expiresAtMs: nowMs + METADATA_TTL_MS });
    const oldest = this.entries.keys().next();
    if (this.entries.size > MAX_METADATA_ENTRIES && oldest.done !== true) this.entries.delete(oldest.value);
  }
}

function configure(configuration: Configuration, { config, fetch }: TokenRequestOptions): Configuration {
  configuration.timeout = config.timeoutMs / 1000; // openid-client counts seconds
  configuration[customFetch] = asCustomFetch(fetch);
  if (config.insecure) allowInsecureRequests(configuration);
  return configuration;
}

function asCustomFetch(fetchFn: typeof fetch): CustomFetch {
  // The cloud's fetch decides where outbound calls may go; openid-client only shapes them.
  return (url, options) => fetchFn(url, options as RequestInit);
}

async function discoveredMetadata(issuer: string, options: TokenRequestOptions, metadata: MetadataCache): Promise<ServerMetadata> {
  const cached = metadata.get(issuer, options.nowMs);
  if (cached !== undefined) return cached;
  const { config, auth, fetch } = options;
  const discovered = await discovery(new URL(issuer), config.clientId, undefined, auth, {
    [customFetch]: asCustomFetch(fetch),
    timeout: config.timeoutMs / 1000,
    execute: config.insecure ? [allowInsecureRequests] : [],
  });
  const server = discovered.serverMetadata();
  // The discovered endpoint receives the client's secret: hold it to the configured URLs' rule.
  const tokenEndpoint = parseEndpointUrl('discovered token_endpoint', server.token_endpoint);
  if (typeof tokenEndpoint === 'string') {
    throw new CredentialError('credential_provider_error', tokenEndpoint, { provider: OAUTH2_CLIENT_CREDENTIALS_TYPE });
  }
  const copy: ServerMetadata = { ...server };
  metadata.set(issuer, copy, options.nowMs);
  return copy;
}

async function configurationFor(options: TokenRequestOptions, metadata: MetadataCache): Promise<Configuration> {
  const { config, auth } = options;
  let server: ServerMetadata;
  if (config.tokenEndpoint !== undefined) {
    // Without an issuer the token endpoint stands in for it: it is then the assertion's `aud`.
    server = { issuer: config.issuer ?? config.tokenEndpoint, token_endpoint: config.tokenEndpoint };
  } else if (config.issuer !== undefined) {
    server = await discoveredMetadata(config.issuer, options, metadata);
  } else {
    throw new CredentialError('invalid_config', 'one of issuer or tokenEndpoint is required', { provider: OAUTH2_CLIENT_CREDENTIALS_TYPE });
  }
  return configure(new Configuration(server, config.clientId, undefined, auth), options);
}

export async function requestToken(options: TokenRequestOptions, metadata: MetadataCache): Promise<TokenResponse> {
  const { config } = options;
  const parameters = new URLSearchParams();
  if (config.scope !== undefined) parameters.set('scope', config.scope);
  if (config.audience !== undefined) parameters.set('audience', config.audience);
  for (const resource of config.resources) parameters.append('resource', resource);

  const configuration = await configurationFor(options, metadata);
  const response = await clientCredentialsGrant(configuration, parameters);
  const fail = (message: string) => new CredentialError('credential_provider_error', message, { provider: OAUTH2_CLIENT_CREDENTIALS_TYPE });
  if (response.access_token.length === 0) throw fail('token endpoint returned an empty access_token');
  // A DPoP-bound token needs a proof per request, which header injection cannot give.
  if (response.token_type === 'dpop') throw fail('token endpoint returned a DPoP-bound token; only bearer tokens are supported');
  return { accessToken: response.access_token, expiresInSeconds: response.expires_in };
}
