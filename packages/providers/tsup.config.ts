import { packageConfig } from '../../tsup.config.js';

/** One entry per `exports` subpath; test/exports.test.ts checks the two agree. */
export default packageConfig({
  index: 'src/index.ts',
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
  'trust/kubernetes/index': 'src/trust/kubernetes/index.ts',
  'trust/github-actions/index': 'src/trust/github-actions/index.ts',
  'trust/aws-ec2-instance-identity/index': 'src/trust/aws-ec2-instance-identity/index.ts',
  'trust/aws-iam/index': 'src/trust/aws-iam/index.ts',
  'trust/gcp-identity-token/index': 'src/trust/gcp-identity-token/index.ts',
  'trust/azure-managed-identity/index': 'src/trust/azure-managed-identity/index.ts',
});
