/**
 * `basic` credential provider: a username (config, readable) and a password (secret,
 * write-only) that the SDK injects as HTTP Basic authentication (RFC 7617).
 *
 * RFC 7617 forbids ':' in the user-id (the first ':' separates it from the password), so
 * the schema refuses it. Warning: the password does not expire (`expiresAt: null`).
 */
import { Type, type Static } from 'typebox';
import { defineCredentialProvider } from '../../define.js';
import { CredentialError } from '../../errors.js';

export const BASIC_TYPE = 'basic';

export const basicConfigSchema = Type.Object(
  {
    username: Type.String({
      minLength: 1,
      maxLength: 256,
      pattern: '^[^:]*$',
      description: "User-id for HTTP Basic authentication; must not contain ':' (RFC 7617).",
    }),
  },
  { additionalProperties: false },
);

export const basicSecretsSchema = Type.Object(
  {
    password: Type.String({ minLength: 1, maxLength: 8192, description: 'The password (write-only).' }),
  },
  { additionalProperties: false },
);

export type BasicConfig = Static<typeof basicConfigSchema>;
export type BasicSecrets = Static<typeof basicSecretsSchema>;

export const basicCredentialProvider = defineCredentialProvider({
  specificationVersion: 'v1',
  type: BASIC_TYPE,
  configSchema: basicConfigSchema,
  secretsSchema: basicSecretsSchema,
  async issue(_request, config, secrets) {
    const username: unknown = config?.username;
    const password: unknown = secrets?.password;
    // Re-checked here so an unvalidated config fails closed instead of producing a bad header.
    if (typeof username !== 'string' || username.length === 0 || username.includes(':')) {
      throw new CredentialError('invalid_config', "config username must be a non-empty string without ':'", {
        provider: BASIC_TYPE,
      });
    }
    if (typeof password !== 'string' || password.length === 0) {
      throw new CredentialError('invalid_config', 'secret password is not set', { provider: BASIC_TYPE });
    }
    return { kind: 'basic', username, password, expiresAt: null };
  },
});
