import { packageConfig } from '../../tsup.config.js';

/**
 * One entry per `exports` subpath; test/exports.test.ts checks the two agree. `collect` and each
 * `trust/<provider>/collect` are the workload side's entries (the collecting half only).
 */
export default packageConfig({
  index: 'src/index.ts',
  collect: 'src/collect.ts',
  'credential/api-key/index': 'src/credential/api-key/index.ts',
  'credential/basic/index': 'src/credential/basic/index.ts',
  'credential/workload-jwt/index': 'src/credential/workload-jwt/index.ts',
  'credential/oauth2-client-credentials/index': 'src/credential/oauth2-client-credentials/index.ts',
  'credential/aws-sts/index': 'src/credential/aws-sts/index.ts',
  'credential/gcp-workload-identity-federation/index': 'src/credential/gcp-workload-identity-federation/index.ts',
  'credential/azure-workload-identity-federation/index': 'src/credential/azure-workload-identity-federation/index.ts',
  'condition/time-window/index': 'src/condition/time-window/index.ts',
  'condition/source-ip/index': 'src/condition/source-ip/index.ts',
  'trust/jwt/index': 'src/trust/jwt/index.ts',
  'trust/oidc/index': 'src/trust/oidc/index.ts',
  'trust/oidc/collect': 'src/trust/oidc/collect.ts',
  'trust/kubernetes/index': 'src/trust/kubernetes/index.ts',
  'trust/kubernetes/collect': 'src/trust/kubernetes/collect.ts',
  'trust/github-actions/index': 'src/trust/github-actions/index.ts',
  'trust/github-actions/collect': 'src/trust/github-actions/collect.ts',
  'trust/aws-ec2-instance-identity/index': 'src/trust/aws-ec2-instance-identity/index.ts',
  'trust/aws-ec2-instance-identity/collect': 'src/trust/aws-ec2-instance-identity/collect.ts',
  'trust/aws-iam/index': 'src/trust/aws-iam/index.ts',
  'trust/aws-iam/collect': 'src/trust/aws-iam/collect.ts',
  'trust/gcp-identity-token/index': 'src/trust/gcp-identity-token/index.ts',
  'trust/gcp-identity-token/collect': 'src/trust/gcp-identity-token/collect.ts',
  'trust/azure-managed-identity/index': 'src/trust/azure-managed-identity/index.ts',
  'trust/azure-managed-identity/collect': 'src/trust/azure-managed-identity/collect.ts',
});
