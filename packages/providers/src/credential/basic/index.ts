export {
  BASIC_TYPE,
  type BasicConfig,
  type BasicSecrets,
  basicConfigSchema,
  basicCredentialProvider,
  basicSecretsSchema,
} from './basic.js';
