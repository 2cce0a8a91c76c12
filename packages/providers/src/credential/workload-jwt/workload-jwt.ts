/**
 * `workload-jwt` credential provider: a short-lived JWT that the cloud signs with its own
 * key for the client workload. The server workload verifies it against the cloud's JWKS
 * (`<issuer>/.well-known/jwks.json`), checking `iss`, `aud` and `exp` as for any OIDC token.
 *
 * Besides the signer's `iss`, `aud`, `iat`, `exp`, `jti` and `resource_set` (`{id, name}`), and
 * `sub` (`workloadSubject`: unique across resource sets), the token carries `client_workload`
 * and `server_workload` (names), `policy` (the access policy id), the optional `scope` and the
 * configured static claims, which can never shadow any of those.
 *
 * Warning: the JWT is a bearer token until it expires; keep `lifetimeSeconds` short and
 * `audience` specific, so a token leaked from one server workload is refused by the others.
 */
import { defineCredentialProvider } from '../../define.js';
import { CredentialError } from '../../errors.js';
import { workloadSubject } from '../workload-subject.js';
import {
  parseWorkloadJwtConfig,
  WORKLOAD_JWT_TYPE,
  workloadJwtConfigSchema,
  workloadJwtSecretsSchema,
} from './config.js';

export const workloadJwtCredentialProvider = defineCredentialProvider({
  specificationVersion: 'v1',
  type: WORKLOAD_JWT_TYPE,
  configSchema: workloadJwtConfigSchema,
  secretsSchema: workloadJwtSecretsSchema,
  validate(config) {
    const parsed = parseWorkloadJwtConfig(config);
    return 'issues' in parsed ? parsed.issues : [];
  },
  async issue(request, config, _secrets, ctx) {
    const parsed = parseWorkloadJwtConfig(config);
    if ('issues' in parsed) {
      throw new CredentialError('invalid_config', parsed.issues.join('; '), { provider: WORKLOAD_JWT_TYPE });
    }
    const { audience, lifetimeSeconds, scope, claims, subjectFormat } = parsed.config;
    if (ctx.signJwt === undefined) {
      // Fail closed: without the cloud's signer there is nothing a server workload could verify.
      throw new CredentialError('credential_provider_error', 'the cloud offers no JWT signer (ctx.signJwt)', {
        provider: WORKLOAD_JWT_TYPE,
      });
    }

    const subject = workloadSubject(request, subjectFormat);
    const payload: Record<string, unknown> = {
      ...claims,
      ...(scope === undefined ? {} : { scope }),
      client_workload: request.clientWorkload.name,
      server_workload: request.serverWorkload.name,
      policy: request.policyId,
    };
    // Read the clock before signing, so expiresAt is never later than the signer's `exp`.
    const issuedAtMs = ctx.now().getTime();
    let token: string;
    try {
      token = await ctx.signJwt(payload, { audience, subject, lifetimeSeconds });
    } catch (error) {
      throw new CredentialError('credential_provider_error', 'signing the workload JWT failed', {
        provider: WORKLOAD_JWT_TYPE,
        cause: error,
      });
    }
    return { kind: 'token', token, expiresAt: new Date(issuedAtMs + lifetimeSeconds * 1000) };
  },
});
