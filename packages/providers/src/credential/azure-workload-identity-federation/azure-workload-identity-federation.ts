/**
 * `azure-workload-identity-federation` credential provider: Microsoft Entra ID access tokens
 * for an app registration (or a user-assigned managed identity) that trusts this control plane
 * through a federated identity credential. No secret is stored anywhere: the control plane
 * signs a short-lived JWT for the client workload (`iss` = its public URL, `sub` =
 * `workloadSubject` — `resource-set:<set>:client-workload:<workload>` by ids or by names —,
 * `resource_set` = `{id, name}`, `aud` = `api://AzureADTokenExchange`), and @azure/identity's
 * `ClientAssertionCredential` exchanges it at Entra ID for an access token of the configured
 * `scope` (client credentials grant with a jwt-bearer client assertion).
 *
 * Caching has two layers. One `ClientAssertionCredential` is kept per (config, control plane
 * issuer, resource set, client workload) in a bounded LRU, so MSAL's per-instance token cache and authority
 * metadata survive between calls; in front of it, the shared `TokenCache` hands the same token
 * to every caller until 75% of its lifetime has passed and lets concurrent misses share one
 * token request. Past that point MSAL is asked again; it renews 5 minutes before expiry.
 *
 * Every request goes through the control plane's fetch and only to `authorityHost`:
 * instance discovery is disabled (MSAL would otherwise ask
 * https://login.microsoftonline.com/common/discovery/instance), and the HTTP client refuses
 * any other origin, whatever MSAL reads from a discovery document or the environment.
 *
 * Entra ID accepts RSA signatures only (RS256) on federated tokens: the control plane's signer
 * is asked for RS256, and an assertion signed otherwise is refused here, before it is sent.
 *
 * @azure/identity is loaded with a dynamic `import()` the first time a token is needed, so
 * importing the provider catalog stays light.
 */
import type { ClientAssertionCredential } from '@azure/identity';
import { decodeProtectedHeader } from 'jose';
import type { CredentialContext, CredentialProvider, SignJwtOptions } from '../../contracts.js';
import { defineCredentialProvider } from '../../define.js';
import { workloadSubject } from '../workload-subject.js';
import { CredentialError } from '../../errors.js';
import { loadOptionalDependency } from '../../optional-dependency.js';
import { type CachedToken, TokenCache } from '../token-cache.js';
import { type AuthorityRequestError, createAuthorityHttpClient } from './authority-client.js';
import {
  ASSERTION_LIFETIME_SECONDS,
  AZURE_WIF_TYPE,
  type AzureWifConfig,
  azureWifConfigSchema,
  type AzureWifSecrets,
  azureWifSecretsSchema,
  type ParsedAzureWifConfig,
  parseAzureWifConfig,
} from './config.js';
import { toCredentialError } from './token-errors.js';

/** The one signature algorithm Entra ID is asked to verify. */
export const AZURE_ASSERTION_ALGORITHM = 'RS256';

export interface AzureWorkloadIdentityFederationProviderOptions {
  /** Access tokens kept (default 1000); the least recently used are dropped first. */
  maxCachedTokens?: number;
  /** `ClientAssertionCredential` instances kept, one per (config, client workload); default 1000. */
  maxCredentials?: number;
}

export interface AzureWorkloadIdentityFederationProvider extends CredentialProvider<AzureWifConfig, AzureWifSecrets> {
  readonly configSchema: typeof azureWifConfigSchema;
  readonly secretsSchema: typeof azureWifSecretsSchema;
  /** Drops every cached token and credential instance (MSAL's caches go with them). */
  clearTokenCache(): void;
}

/** Sign options plus the algorithm Entra needs; a signer that knows `algorithm` honours it. */
type AssertionSignOptions = SignJwtOptions & { algorithm: typeof AZURE_ASSERTION_ALGORITHM };

interface CredentialEntry {
  credential: Promise<ClientAssertionCredential> | undefined;
  /** The latest call's context: the cached credential outlives any single call. */
  ctx: CredentialContext;
  transportFailure: AuthorityRequestError | undefined;
}

/** Loads @azure/identity once, on first use; a failed load is retried next time. */
async function loadAzureIdentity(): Promise<typeof import('@azure/identity')> {
  try {
    return await loadOptionalDependency<typeof import('@azure/identity')>('@azure/identity', { feature: 'the azure-workload-identity-federation credential provider', install: ['@azure/identity'] });
  } catch (error) {
    throw new CredentialError('credential_provider_error', '@azure/identity could not be loaded', { provider: AZURE_WIF_TYPE, cause: error });
  }
}

const fail = (message: string, cause?: unknown) =>
  new CredentialError('credential_provider_error', message, { provider: AZURE_WIF_TYPE, ...(cause === undefined ? {} : { cause }) });

/** The assertion's `alg`, for the check and the message; only a plain identifier is echoed. */
function assertionAlgorithm(assertion: string): string {
  try {
    const { alg } = decodeProtectedHeader(assertion);
    return typeof alg === 'string' && /^[A-Za-z0-9]{1,16}$/.test(alg) ? alg : 'an unknown algorithm';
  } catch {
    return 'an unknown algorithm';
  }
}

/** Settles as `promise` does, or rejects when this caller's signal aborts (others keep waiting). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(fail('token request aborted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(fail('token request aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Moves `key` to the most recent place and drops the oldest entries beyond `max`. */
function touch<V>(map: Map<string, V>, key: string, value: V, max: number): V {
  map.delete(key);
  map.set(key, value);
  for (const oldest of map.keys()) {
    if (map.size <= max) break;
    map.delete(oldest);
  }
  return value;
}

export function createAzureWorkloadIdentityFederationProvider(
  options: AzureWorkloadIdentityFederationProviderOptions = {},
): AzureWorkloadIdentityFederationProvider {
  const tokens = new TokenCache(options.maxCachedTokens ?? 1000);
  const maxCredentials = options.maxCredentials ?? 1000;
  if (!Number.isInteger(maxCredentials) || maxCredentials < 1) throw new RangeError('maxCredentials must be a positive whole number');
  const credentials = new Map<string, CredentialEntry>();

  async function buildCredential(config: ParsedAzureWifConfig, subject: string, entry: CredentialEntry): Promise<ClientAssertionCredential> {
    const { ClientAssertionCredential } = await loadAzureIdentity();
    const getAssertion = async (): Promise<string> => {
      const { signJwt } = entry.ctx;
      if (signJwt === undefined) throw fail('the cloud offers no JWT signer (ctx.signJwt)');
      const signOptions: AssertionSignOptions = {
        audience: config.assertionAudience,
        subject,
        lifetimeSeconds: ASSERTION_LIFETIME_SECONDS,
        algorithm: AZURE_ASSERTION_ALGORITHM,
      };
      let assertion: string;
      try {
        assertion = await signJwt({}, signOptions);
      } catch (error) {
        throw fail('signing the client assertion failed', error);
      }
      const alg = assertionAlgorithm(assertion);
      if (alg !== AZURE_ASSERTION_ALGORITHM) {
        // Entra would answer AADSTS5002738; say what to change instead of sending it.
        throw fail(`the control plane signed the client assertion with ${alg}, but Entra ID accepts only RSA signatures (${AZURE_ASSERTION_ALGORITHM}) on federated tokens`);
      }
      return assertion;
    };
    return new ClientAssertionCredential(config.tenantId, config.clientId, getAssertion, {
      authorityHost: config.authorityHost,
      // Without it MSAL asks login.microsoftonline.com/common/discovery/instance about the authority.
      disableInstanceDiscovery: true,
      httpClient: createAuthorityHttpClient({
        authorityOrigin: config.authorityHost,
        timeoutMs: config.timeoutMs,
        fetch: () => entry.ctx.fetch,
        onFailure: (error) => {
          entry.transportFailure = error;
        },
      }),
      // One quick retry for a 429/5xx; the SDK retries further up, and a caller is waiting.
      retryOptions: { maxRetries: 1, retryDelayInMs: 200, maxRetryDelayInMs: 1000 },
      redirectOptions: { maxRetries: 0 },
    });
  }

  const provider = defineCredentialProvider({
    specificationVersion: 'v1',
    type: AZURE_WIF_TYPE,
    configSchema: azureWifConfigSchema,
    secretsSchema: azureWifSecretsSchema,
    validate(config) {
      const parsed = parseAzureWifConfig(config);
      return 'issues' in parsed ? parsed.issues : [];
    },
    async issue(request, rawConfig, _secrets, ctx) {
      const parsed = parseAzureWifConfig(rawConfig);
      if ('issues' in parsed) throw new CredentialError('invalid_config', parsed.issues.join('; '), { provider: AZURE_WIF_TYPE });
      const config = parsed.config;
      // Fail closed: without the cloud's signer there is no assertion for Entra to trust.
      if (ctx.signJwt === undefined) throw fail('the cloud offers no JWT signer (ctx.signJwt)');
      const subject = workloadSubject(request, config.subjectFormat);
      if (subject.length > 600) {
        throw fail('the names of the client workload and its resource set make a subject longer than a federated credential takes (600 characters)');
      }

      // Tokens are per workload: another workload's federated credential may not exist in Entra.
      // Keyed by ids too: a `workload-name` subject outlives a rename, and the set that takes the
      // old name must not be served the token minted for the set that had it.
      const credentialKey = JSON.stringify([
        ctx.issuer,
        config.authorityHost,
        config.tenantId,
        config.clientId,
        config.assertionAudience,
        subject,
        request.resourceSet.id,
        request.clientWorkload.id,
      ]);
      const entry = touch(
        credentials,
        credentialKey,
        credentials.get(credentialKey) ?? { credential: undefined, ctx, transportFailure: undefined },
        maxCredentials,
      );
      entry.ctx = ctx;
      const now = () => ctx.now().getTime();

      const fetchToken = async (): Promise<CachedToken> => {
        entry.transportFailure = undefined;
        const requestedAtMs = now();
        let accessToken: Awaited<ReturnType<ClientAssertionCredential['getToken']>>;
        try {
          entry.credential ??= buildCredential(config, subject, entry).catch((error: unknown) => {
            entry.credential = undefined;
            throw error;
          });
          accessToken = await (await entry.credential).getToken(config.scope);
        } catch (error) {
          throw toCredentialError(error, { transportFailure: entry.transportFailure, endpoint: `${config.authorityHost}/${config.tenantId}` });
        }
        if (accessToken === null || typeof accessToken.token !== 'string' || accessToken.token.length === 0) {
          throw fail('Entra ID returned no access token');
        }
        const expiresAtMs = accessToken.expiresOnTimestamp;
        if (!Number.isFinite(expiresAtMs) || expiresAtMs <= now()) throw fail('Entra ID returned an access token that has already expired');
        // MSAL may answer from its own cache: the lifetime is then what remains of that token.
        return { token: accessToken.token, expiresAtMs, lifetimeMs: expiresAtMs - requestedAtMs };
      };

      const cached = await untilAborted(tokens.getOrFetch(JSON.stringify([credentialKey, config.scope]), now, fetchToken), ctx.signal);
      return { kind: 'token', token: cached.token, expiresAt: new Date(cached.expiresAtMs) };
    },
  });

  return Object.assign(provider, {
    clearTokenCache: () => {
      tokens.clear();
      credentials.clear();
    },
  });
}

/** The built-in instance, with its own caches. */
export const azureWorkloadIdentityFederationProvider: AzureWorkloadIdentityFederationProvider =
  /* @__PURE__ */ createAzureWorkloadIdentityFederationProvider();
