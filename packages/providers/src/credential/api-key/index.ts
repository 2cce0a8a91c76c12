export {
  API_KEY_TYPE,
  type ApiKeyConfig,
  type ApiKeySecrets,
  apiKeyConfigSchema,
  apiKeyCredentialProvider,
  apiKeySecretsSchema,
} from './api-key.js';
