/**
 * `oauth2-client-credentials` credential provider: the cloud holds the client's secret (or
 * private key) and obtains access tokens with the OAuth 2.0 client credentials grant
 * (RFC 6749 §4.4) through openid-client, authenticating with `client_secret_basic`,
 * `client_secret_post` or `private_key_jwt` (RFC 7523). The workload only ever sees the
 * short-lived access token.
 *
 * Tokens are cached inside the provider instance and shared by all callers (see
 * token-cache.ts): `createOAuth2ClientCredentialsProvider()` makes an instance with its own
 * cache; `oauth2ClientCredentialsProvider` is the built-in one.
 *
 * Warning: a cached token stays in use after the authorization server revoked it, until the
 * refresh point (75% of its lifetime); call `clearTokenCache()` after revoking.
 */
import type { CredentialProvider } from '../../contracts.js';
import { defineCredentialProvider } from '../../define.js';
import { CredentialError } from '../../errors.js';
import { clientAuthFor, secretFor } from './client-auth.js';
import {
  OAUTH2_CLIENT_CREDENTIALS_TYPE,
  oauth2ClientCredentialsConfigSchema,
  oauth2ClientCredentialsSecretsSchema,
  parseOAuth2ClientCredentialsConfig,
  type OAuth2ClientCredentialsConfig,
  type OAuth2ClientCredentialsSecrets,
} from './config.js';
import { DEFAULT_TOKEN_LIFETIME_MS, TokenCache, type CachedToken } from '../token-cache.js';
import { toCredentialError } from './token-errors.js';
import { describeUrl } from '../../http/upstream-failure.js';
import { MetadataCache, requestToken } from './token-request.js';

export interface OAuth2ClientCredentialsProviderOptions {
  /** Most tokens kept (default 1000); the least recently used are dropped first. */
  maxCachedTokens?: number;
}

export interface OAuth2ClientCredentialsProvider
  extends CredentialProvider<OAuth2ClientCredentialsConfig, OAuth2ClientCredentialsSecrets> {
  readonly configSchema: typeof oauth2ClientCredentialsConfigSchema;
  readonly secretsSchema: typeof oauth2ClientCredentialsSecretsSchema;
  /** Drops every cached token, e.g. after revoking a client or a token at the server. */
  clearTokenCache(): void;
}

/** Settles as `promise` does, or rejects when this caller's signal aborts (others keep waiting). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  const aborted = () => new CredentialError('credential_provider_error', 'token request aborted', { provider: OAUTH2_CLIENT_CREDENTIALS_TYPE });
  if (signal.aborted) return Promise.reject(aborted());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(aborted());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export function createOAuth2ClientCredentialsProvider(options: OAuth2ClientCredentialsProviderOptions = {}): OAuth2ClientCredentialsProvider {
  const tokens = new TokenCache(options.maxCachedTokens ?? 1000);
  const metadata = new MetadataCache();

  const provider = defineCredentialProvider({
    specificationVersion: 'v1',
    type: OAUTH2_CLIENT_CREDENTIALS_TYPE,
    configSchema: oauth2ClientCredentialsConfigSchema,
    secretsSchema: oauth2ClientCredentialsSecretsSchema,
    validate(config) {
      const parsed = parseOAuth2ClientCredentialsConfig(config);
      return 'issues' in parsed ? parsed.issues : [];
    },
    async issue(_request, rawConfig, secrets, ctx) {
      const parsed = parseOAuth2ClientCredentialsConfig(rawConfig);
      if ('issues' in parsed) {
        throw new CredentialError('invalid_config', parsed.issues.join('; '), { provider: OAUTH2_CLIENT_CREDENTIALS_TYPE });
      }
      const config = parsed.config;
      const secret = secretFor(config.authMethod, secrets);
      const now = () => ctx.now().getTime();
      const key = tokens.key({
        endpoint: config.tokenEndpoint ?? config.issuer ?? '',
        clientId: config.clientId,
        authMethod: config.authMethod,
        signingAlg: config.signingAlg,
        scope: config.scope,
        audience: config.audience,
        resources: config.resources,
        secret,
      });

      const fetchToken = async (): Promise<CachedToken> => {
        try {
          const auth = await clientAuthFor({ authMethod: config.authMethod, secret, signingAlg: config.signingAlg });
          const requestedAtMs = now();
          const response = await requestToken({ config, auth, fetch: ctx.fetch, nowMs: requestedAtMs }, metadata);
          // Counted from the request's start, so the token never outlives what the server meant.
          const lifetimeMs = response.expiresInSeconds === undefined ? DEFAULT_TOKEN_LIFETIME_MS : Math.max(0, response.expiresInSeconds * 1000);
          return { token: response.accessToken, expiresAtMs: requestedAtMs + lifetimeMs, lifetimeMs };
        } catch (error) {
          throw await toCredentialError(error, { secret, endpoint: describeUrl(config.tokenEndpoint ?? config.issuer ?? '') });
        }
      };

      const cached = await untilAborted(tokens.getOrFetch(key, now, fetchToken), ctx.signal);
      return { kind: 'token', token: cached.token, expiresAt: new Date(cached.expiresAtMs) };
    },
  });
  return Object.assign(provider, { clearTokenCache: () => tokens.clear() });
}

/** The built-in instance, with its own token cache. */
export const oauth2ClientCredentialsProvider: OAuth2ClientCredentialsProvider = createOAuth2ClientCredentialsProvider();
