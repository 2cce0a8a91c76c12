export {
  AWS_STS_TYPE,
  type AwsStsConfig,
  awsStsConfigSchema,
  type AwsStsSecrets,
  awsStsSecretsSchema,
  DEFAULT_AWS_STS_AUDIENCE,
  DEFAULT_AWS_ROLE_SESSION_NAME,
  defaultStsEndpoint,
  parseAwsStsConfig,
  type ParsedAwsStsConfig,
  renderRoleSessionName,
} from './config.js';
export {
  type AwsStsCredentialProvider,
  awsStsCredentialProvider,
  type AwsStsCredentialProviderOptions,
  createAwsStsCredentialProvider,
  AWS_STS_TOKEN_LIFETIME_SECONDS,
} from './aws-sts.js';
