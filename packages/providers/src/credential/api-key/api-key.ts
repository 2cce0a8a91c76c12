/**
 * `api-key` credential provider: hands out a static API key kept in the cloud's encrypted
 * secrets. The workload never stores it; the SDK injects it per the server workload's
 * injection setting (a header, a bearer token, a query parameter).
 *
 * Warning: the key does not expire (`expiresAt: null`) and is only as safe as its scope at
 * the SaaS; prefer a provider that mints short-lived credentials when the target offers one.
 */
import { Type, type Static } from 'typebox';
import { defineCredentialProvider } from '../../define.js';
import { CredentialError } from '../../errors.js';

export const API_KEY_TYPE = 'api-key';

export const apiKeyConfigSchema = Type.Object({}, { additionalProperties: false });

export const apiKeySecretsSchema = Type.Object(
  {
    apiKey: Type.String({ minLength: 1, maxLength: 8192, description: 'The API key (write-only).' }),
  },
  { additionalProperties: false },
);

export type ApiKeyConfig = Static<typeof apiKeyConfigSchema>;
export type ApiKeySecrets = Static<typeof apiKeySecretsSchema>;

export const apiKeyCredentialProvider = defineCredentialProvider({
  specificationVersion: 'v1',
  type: API_KEY_TYPE,
  configSchema: apiKeyConfigSchema,
  secretsSchema: apiKeySecretsSchema,
  async issue(_request, _config, secrets) {
    const apiKey: unknown = secrets?.apiKey;
    // Fail closed when the secret was never set; the message names the field, not the value.
    if (typeof apiKey !== 'string' || apiKey.length === 0) {
      throw new CredentialError('invalid_config', 'secret apiKey is not set', { provider: API_KEY_TYPE });
    }
    return { kind: 'token', token: apiKey, expiresAt: null };
  },
});
