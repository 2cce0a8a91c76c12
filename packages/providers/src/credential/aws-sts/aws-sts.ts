/**
 * `aws-sts` credential provider: AWS temporary credentials for an IAM role, obtained with
 * `AssumeRoleWithWebIdentity`. The cloud is the OIDC identity provider: it signs a short JWT
 * for the client workload with its own key (`ctx.signJwt`), and AWS, which trusts the cloud's
 * issuer URL through an IAM OIDC identity provider, exchanges it for the role's credentials.
 * Neither the cloud nor the workload holds a long-lived AWS key.
 *
 * The web identity token: `iss` = the cloud's issuer URL, `sub` =
 * `resource-set:<resource set id>:client-workload:<client workload id>` (`workloadSubject`:
 * stable across renames and unique across resource sets, so a trust policy condition on it names
 * exactly one workload), `resource_set` = `{id, name}`, `aud` = `audience` (default
 * `sts.amazonaws.com`), valid 300 s (it is exchanged at once).
 *
 * Credentials are cached inside the provider instance, per (cloud issuer, config, role,
 * session name, client workload), and shared by every caller until 75% of their lifetime has
 * passed (or less than a minute remains); concurrent misses share one STS call, and a failed
 * call is not cached. The cache is the oauth2-client-credentials provider's `TokenCache`.
 *
 * Warning: cached credentials stay in use after the role's policy changed or its sessions were
 * revoked, until their refresh point; call `clearCredentialCache()` after revoking sessions.
 */
import type { CredentialProvider } from '../../contracts.js';
import { defineCredentialProvider } from '../../define.js';
import { CredentialError } from '../../errors.js';
import { TokenCache, type CachedToken } from '../token-cache.js';
import { workloadSubject } from '../workload-subject.js';
import {
  AWS_STS_TYPE,
  type AwsStsConfig,
  awsStsConfigSchema,
  type AwsStsSecrets,
  awsStsSecretsSchema,
  parseAwsStsConfig,
  renderRoleSessionName,
} from './config.js';
import { assumeRoleWithWebIdentity, type StsCredentials } from './sts-call.js';

/** Lifetime of the web identity token: it is sent to STS right after it is signed. */
export const AWS_STS_TOKEN_LIFETIME_SECONDS = 300;

export interface AwsStsCredentialProviderOptions {
  /** Most credential sets kept (default 1000); the least recently used are dropped first. */
  maxCachedCredentials?: number;
}

export interface AwsStsCredentialProvider extends CredentialProvider<AwsStsConfig, AwsStsSecrets> {
  readonly configSchema: typeof awsStsConfigSchema;
  readonly secretsSchema: typeof awsStsSecretsSchema;
  /** Drops every cached credential set, e.g. after revoking the role's sessions in IAM. */
  clearCredentialCache(): void;
}

function fail(message: string): CredentialError {
  return new CredentialError('credential_provider_error', message, { provider: AWS_STS_TYPE });
}

/** Settles as `promise` does, or rejects when this caller's signal aborts (others keep waiting). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(fail('STS request aborted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(fail('STS request aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

// TokenCache holds one string per entry: the three credential parts travel as JSON in it.
const pack = (credentials: StsCredentials): string =>
  JSON.stringify([credentials.accessKeyId, credentials.secretAccessKey, credentials.sessionToken]);

function unpack(token: string): [string, string, string] {
  return JSON.parse(token) as [string, string, string];
}

export function createAwsStsCredentialProvider(options: AwsStsCredentialProviderOptions = {}): AwsStsCredentialProvider {
  const cache = new TokenCache(options.maxCachedCredentials ?? 1000);

  const provider = defineCredentialProvider({
    specificationVersion: 'v1',
    type: AWS_STS_TYPE,
    configSchema: awsStsConfigSchema,
    secretsSchema: awsStsSecretsSchema,
    validate(config) {
      const parsed = parseAwsStsConfig(config);
      return 'issues' in parsed ? parsed.issues : [];
    },
    async issue(request, rawConfig, _secrets, ctx) {
      const parsed = parseAwsStsConfig(rawConfig);
      if ('issues' in parsed) throw new CredentialError('invalid_config', parsed.issues.join('; '), { provider: AWS_STS_TYPE });
      const config = parsed.config;
      const signJwt = ctx.signJwt;
      if (signJwt === undefined) {
        // Fail closed: without the cloud's signer there is no identity for AWS to trust.
        throw fail('the cloud offers no JWT signer (ctx.signJwt)');
      }
      const { clientWorkload } = request;
      const roleSessionName = renderRoleSessionName(config.roleSessionName, clientWorkload);
      const now = () => ctx.now().getTime();
      // No secret in the key: the web identity token is signed per call and not part of it.
      const key = JSON.stringify([
        ctx.issuer,
        config.stsEndpoint,
        config.region,
        config.roleArn,
        roleSessionName,
        config.durationSeconds,
        config.policy ?? null,
        config.audience,
        clientWorkload.id,
      ]);

      const fetchCredentials = async (): Promise<CachedToken> => {
        let webIdentityToken: string;
        try {
          webIdentityToken = await signJwt({}, { audience: config.audience, subject: workloadSubject(request), lifetimeSeconds: AWS_STS_TOKEN_LIFETIME_SECONDS });
        } catch {
          throw fail('signing the web identity token failed');
        }
        const requestedAtMs = now();
        const credentials = await assumeRoleWithWebIdentity({ config, roleSessionName, webIdentityToken, fetch: ctx.fetch });
        const expiresAtMs = credentials.expiration.getTime();
        // Counted from the request's start, so the refresh point is never later than meant.
        return { token: pack(credentials), expiresAtMs, lifetimeMs: Math.max(0, expiresAtMs - requestedAtMs) };
      };

      const cached = await untilAborted(cache.getOrFetch(key, now, fetchCredentials), ctx.signal);
      const [accessKeyId, secretAccessKey, sessionToken] = unpack(cached.token);
      return { kind: 'aws', accessKeyId, secretAccessKey, sessionToken, expiresAt: new Date(cached.expiresAtMs) };
    },
  });
  return Object.assign(provider, { clearCredentialCache: () => cache.clear() });
}

/** The built-in instance, with its own credential cache. */
export const awsStsCredentialProvider: AwsStsCredentialProvider = /* @__PURE__ */ createAwsStsCredentialProvider();
