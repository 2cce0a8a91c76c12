export {
  AWS_IAM_ENABLE_ENV,
  AWS_IAM_GLOBAL_STS_ENDPOINT,
  AWS_IAM_STS_ENDPOINT_ENV,
  type AwsIamCollectorOptions,
  type AwsIamCredentials,
  awsIamCollector,
  createAwsIamCollector,
} from './collect.js';
export {
  type AwsIamConfig,
  awsIamConfigSchema,
  DEFAULT_AWS_IAM_MAX_SKEW_SECONDS,
  parseAwsIamConfig,
  type ParsedAwsIamConfig,
  validateAwsIamConfig,
} from './config.js';
export {
  AWS_IAM_CONTENT_TYPE,
  AWS_IAM_EVIDENCE_TYPE,
  AWS_IAM_NONCE_HEADER,
  AWS_IAM_REQUEST_BODY,
  AWS_IAM_SERVER_ID_HEADER,
  AWS_IAM_TYPE,
} from './evidence.js';
export { awsIamTrustProvider, createAwsIamTrustProvider } from './verify.js';
