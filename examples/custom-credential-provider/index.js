// @example/tessera-leased-password: a custom Tessera credential provider.
//
// `leased-password` asks an internal secrets API for a short-lived username and password
// (a "lease", like dynamic database users from a secrets manager) each time a workload needs a
// credential, and hands it to the SDK as HTTP Basic credentials. The control plane holds only
// the secrets API's token (write-only, encrypted at rest); workloads never hold anything.
//
// Loaded by the control plane as a plugin:
//   tessera-cloud start --plugin ./examples/custom-credential-provider/index.js
import { CredentialError, defineCredentialProvider } from '@tessera/providers';

export const LEASED_PASSWORD_TYPE = 'leased-password';

const DEFAULT_TTL_SECONDS = 300;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

export const leasedPasswordConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['secretsApiUrl', 'role'],
  properties: {
    secretsApiUrl: { description: 'Base URL of the secrets API: https (plain http only on loopback).', type: 'string', minLength: 1, maxLength: 2048 },
    role: { description: 'The secrets API role to lease credentials of.', type: 'string', pattern: '^[a-z][a-z0-9-]{0,62}$' },
    ttlSeconds: { description: 'Lease lifetime asked for (default 300); the secrets API may grant less.', type: 'integer', minimum: 60, maximum: 3600 },
  },
};

export const leasedPasswordSecretsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['apiToken'],
  properties: {
    apiToken: { description: "The control plane's token for the secrets API.", type: 'string', minLength: 20, maxLength: 4096 },
  },
};

function fail(message) {
  // The message reaches audit events and the denied workload: never a token or a password.
  return new CredentialError('credential_provider_error', message, { provider: LEASED_PASSWORD_TYPE });
}

/** A problem with the secrets API URL, or `undefined`. */
function urlProblem(value) {
  const url = URL.parse(value);
  if (url === null) return 'secretsApiUrl must be an absolute URL';
  if (url.username || url.password) return 'secretsApiUrl must not contain credentials';
  if (url.search || url.hash) return 'secretsApiUrl must not have a query or fragment';
  if (url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))) return undefined;
  return 'secretsApiUrl must use https (http only on a loopback host)';
}

export const leasedPasswordProvider = defineCredentialProvider({
  specificationVersion: 'v1',
  type: LEASED_PASSWORD_TYPE,
  configSchema: leasedPasswordConfigSchema,
  secretsSchema: leasedPasswordSecretsSchema,

  validate(config) {
    const problem = urlProblem(config.secretsApiUrl);
    return problem === undefined ? [] : [problem];
  },

  async issue(request, config, secrets, ctx) {
    const problem = urlProblem(config.secretsApiUrl); // fail closed even if the store holds an old config
    if (problem !== undefined) throw fail(problem);
    if (!secrets.apiToken) throw fail('secret apiToken is not set');
    const ttlSeconds = config.ttlSeconds ?? DEFAULT_TTL_SECONDS; // plain JSON Schema: defaults are ours to apply
    const url = `${config.secretsApiUrl.replace(/\/+$/, '')}/v1/roles/${config.role}/leases`;

    let response;
    try {
      // ctx.fetch: 5-second timeout, no redirects, answers cut at 1 MiB.
      response = await ctx.fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${secrets.apiToken}`, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({
          ttlSeconds,
          // For the secrets API's own audit log: who the lease is for.
          requestedBy: { clientWorkload: request.clientWorkload.name, serverWorkload: request.serverWorkload.name, policyId: request.policyId },
        }),
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      });
    } catch {
      throw fail('the secrets API could not be reached');
    }
    if (response.status === 401 || response.status === 403) throw fail(`the secrets API refused the API token (HTTP ${response.status})`);
    if (response.status !== 201) throw fail(`the secrets API answered HTTP ${response.status}`);

    let lease;
    try {
      lease = await response.json();
    } catch {
      throw fail('the secrets API answer is not JSON');
    }
    const { username, password } = lease ?? {};
    const leaseEnd = Date.parse(lease?.expiresAt);
    // RFC 7617: no ':' in the user-id; no control characters in either.
    if (typeof username !== 'string' || !/^[\x21-\x39\x3b-\x7e]{1,256}$/.test(username)) throw fail('the secrets API answer has no usable username');
    if (typeof password !== 'string' || !/^[\x20-\x7e]{1,1024}$/.test(password)) throw fail('the secrets API answer has no usable password');
    const now = ctx.now().getTime();
    if (!Number.isFinite(leaseEnd) || leaseEnd <= now) throw fail('the secrets API answer has no usable expiresAt');
    return { kind: 'basic', username, password, expiresAt: new Date(Math.min(leaseEnd, now + ttlSeconds * 1000)) };
  },
});

export default { credentialProviders: [leasedPasswordProvider] };
