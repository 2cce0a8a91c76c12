/**
 * `gcp-workload-identity-federation` credential provider: Google access tokens for a client
 * workload, without any Google key in the cloud. The cloud acts as an OpenID Connect issuer
 * that a workload identity pool provider trusts: it signs a short-lived JWT for the client
 * workload (`ctx.signJwt`) and exchanges it at Google STS for a federated access token, and,
 * when `serviceAccountEmail` is set, that one for a service account's token through IAM
 * Credentials `generateAccessToken`.
 *
 * The JWT: `iss` = the cloud's URL, `aud` = `jwtAudience` (default: the pool provider's
 * `//iam.googleapis.com/...` name), `sub` = `resource-set:<set id>:client-workload:<workload id>`
 * (`workloadSubject`: ids are stable and never reused, unlike names that can be freed and taken
 * again: map `google.subject=assertion.sub` and grant access to `principal://.../subject/<sub>`),
 * `resource_set` = `{id, name}`, `client_workload` = its name (for attribute mappings and
 * Google's audit logs), lifetime 300 s.
 *
 * Tokens are cached per (config, client workload) inside the provider instance and shared by
 * every caller until 75% of their lifetime has passed (see token-cache.ts); concurrent misses
 * share one exchange. `createGcpWorkloadIdentityFederationProvider()` makes an instance with its
 * own cache; `gcpWorkloadIdentityFederationProvider` is the built-in one.
 *
 * Warning: a cached token stays in use after a binding was removed in Google Cloud, until its
 * refresh point; call `clearTokenCache()` (or restart) after revoking access.
 */
import type { CredentialProvider } from '../../contracts.js';
import { defineCredentialProvider } from '../../define.js';
import { CredentialError } from '../../errors.js';
import { type CachedToken, TokenCache } from '../token-cache.js';
import { workloadSubject } from '../workload-subject.js';
import {
  GCP_WIF_SUBJECT_TOKEN_LIFETIME_SECONDS,
  GCP_WIF_TYPE,
  type GcpWifConfig,
  gcpWifConfigSchema,
  type GcpWifSecrets,
  gcpWifSecretsSchema,
  parseGcpWifConfig,
} from './config.js';
import { exchangeForGoogleToken } from './exchange.js';
import { type ExchangeStep, toGoogleCredentialError } from './google-errors.js';
import { describeUrl } from '../../http/upstream-failure.js';

export interface GcpWorkloadIdentityFederationProviderOptions {
  /** Most tokens kept (default 1000); the least recently used are dropped first. */
  maxCachedTokens?: number;
}

export interface GcpWorkloadIdentityFederationProvider extends CredentialProvider<GcpWifConfig, GcpWifSecrets> {
  readonly configSchema: typeof gcpWifConfigSchema;
  readonly secretsSchema: typeof gcpWifSecretsSchema;
  /** Drops every cached token, e.g. after removing an IAM binding in Google Cloud. */
  clearTokenCache(): void;
}

/** Settles as `promise` does, or rejects when this caller's signal aborts (others keep waiting). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  const aborted = () => new CredentialError('credential_provider_error', 'token exchange aborted', { provider: GCP_WIF_TYPE });
  if (signal.aborted) return Promise.reject(aborted());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(aborted());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export function createGcpWorkloadIdentityFederationProvider(
  options: GcpWorkloadIdentityFederationProviderOptions = {},
): GcpWorkloadIdentityFederationProvider {
  const tokens = new TokenCache(options.maxCachedTokens ?? 1000);

  const provider = defineCredentialProvider({
    specificationVersion: 'v1',
    type: GCP_WIF_TYPE,
    configSchema: gcpWifConfigSchema,
    secretsSchema: gcpWifSecretsSchema,
    validate(config) {
      const parsed = parseGcpWifConfig(config);
      return 'issues' in parsed ? parsed.issues : [];
    },
    async issue(request, rawConfig, _secrets, ctx) {
      const parsed = parseGcpWifConfig(rawConfig);
      if ('issues' in parsed) throw new CredentialError('invalid_config', parsed.issues.join('; '), { provider: GCP_WIF_TYPE });
      const config = parsed.config;
      const { signJwt } = ctx;
      if (signJwt === undefined) {
        // Fail closed: without the cloud's signer there is nothing Google could verify.
        throw new CredentialError('credential_provider_error', 'the cloud offers no JWT signer (ctx.signJwt)', { provider: GCP_WIF_TYPE });
      }
      const { id, name } = request.clientWorkload;
      const now = () => ctx.now().getTime();
      // The issuer is part of the key: two clouds sharing a process never share a token.
      const key = JSON.stringify([
        ctx.issuer,
        config.tokenUrl,
        config.audience,
        config.jwtAudience,
        config.scopes,
        config.impersonationUrl ?? null,
        config.impersonationUrl === undefined ? null : config.tokenLifetimeSeconds,
        id,
        name,
      ]);

      const fetchToken = async (): Promise<CachedToken> => {
        let subjectToken: string;
        try {
          subjectToken = await signJwt({ client_workload: name }, { audience: config.jwtAudience, subject: workloadSubject(request), lifetimeSeconds: GCP_WIF_SUBJECT_TOKEN_LIFETIME_SECONDS });
        } catch (error) {
          throw new CredentialError('credential_provider_error', 'signing the workload JWT failed', { provider: GCP_WIF_TYPE, cause: error });
        }
        const startedAtMs = now();
        let step: ExchangeStep | undefined;
        try {
          const { accessToken, expiresAtMs } = await exchangeForGoogleToken({
            config,
            subjectToken,
            fetch: ctx.fetch,
            startedAtMs,
            onRequest: (url) => {
              step = url === config.tokenUrl ? 'sts' : 'iam';
            },
          });
          return { token: accessToken, expiresAtMs, lifetimeMs: Math.max(0, expiresAtMs - startedAtMs) };
        } catch (error) {
          const url = step === 'iam' ? config.impersonationUrl : config.tokenUrl;
          throw toGoogleCredentialError(error, step, [subjectToken], url === undefined ? undefined : describeUrl(url));
        }
      };

      const cached = await untilAborted(tokens.getOrFetch(key, now, fetchToken), ctx.signal);
      return { kind: 'token', token: cached.token, expiresAt: new Date(cached.expiresAtMs) };
    },
  });
  return Object.assign(provider, { clearTokenCache: () => tokens.clear() });
}

/** The built-in instance, with its own token cache. */
export const gcpWorkloadIdentityFederationProvider: GcpWorkloadIdentityFederationProvider =
  /* @__PURE__ */ createGcpWorkloadIdentityFederationProvider();
