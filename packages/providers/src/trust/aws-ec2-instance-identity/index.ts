export {
  AWS_EC2_METADATA_DISABLED_ENV,
  AWS_IMDS_ENDPOINT_ENV,
  type AwsEc2InstanceIdentityCollectorOptions,
  awsEc2InstanceIdentityCollector,
  createAwsEc2InstanceIdentityCollector,
  DEFAULT_AWS_IMDS_ENDPOINT,
} from './collect.js';
export {
  type AwsEc2InstanceIdentityConfig,
  awsEc2InstanceIdentityConfigSchema,
  DEFAULT_AWS_EC2_MAX_AGE_SECONDS,
  parseAwsEc2InstanceIdentityConfig,
  type ParsedAwsEc2InstanceIdentityConfig,
  validateAwsEc2InstanceIdentityConfig,
} from './config.js';
export { AWS_EC2_INSTANCE_IDENTITY_EVIDENCE_TYPE, AWS_EC2_INSTANCE_IDENTITY_TYPE } from './evidence.js';
export { awsEc2InstanceIdentityTrustProvider, createAwsEc2InstanceIdentityTrustProvider } from './verify.js';
