export {
  OAUTH2_ASSERTION_ALGORITHMS,
  OAUTH2_AUTH_METHODS,
  OAUTH2_CLIENT_CREDENTIALS_TYPE,
  type OAuth2AssertionAlgorithm,
  type OAuth2AuthMethod,
  type OAuth2ClientCredentialsConfig,
  oauth2ClientCredentialsConfigSchema,
  type OAuth2ClientCredentialsSecrets,
  oauth2ClientCredentialsSecretsSchema,
  parseOAuth2ClientCredentialsConfig,
  type ParsedOAuth2Config,
} from './config.js';
export {
  createOAuth2ClientCredentialsProvider,
  type OAuth2ClientCredentialsProvider,
  oauth2ClientCredentialsProvider,
  type OAuth2ClientCredentialsProviderOptions,
} from './oauth2-client-credentials.js';
