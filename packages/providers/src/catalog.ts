/**
 * The built-in providers, listed explicitly (as SPIRE's catalog does), and the factory
 * that fills a registry with them. Importing this module registers nothing by itself.
 */
import { sourceIpCondition } from './condition/source-ip/index.js';
import { timeWindowCondition } from './condition/time-window/index.js';
import type { AccessCondition, CredentialProvider, EvidenceCollector, TrustProvider } from './contracts.js';
import { apiKeyCredentialProvider } from './credential/api-key/index.js';
import { basicCredentialProvider } from './credential/basic/index.js';
import { oauth2ClientCredentialsProvider } from './credential/oauth2-client-credentials/index.js';
import { workloadJwtCredentialProvider } from './credential/workload-jwt/index.js';
import { awsStsCredentialProvider } from './credential/aws-sts/index.js';
import { azureWorkloadIdentityFederationProvider } from './credential/azure-workload-identity-federation/index.js';
import { gcpWorkloadIdentityFederationProvider } from './credential/gcp-workload-identity-federation/index.js';
import { ProviderRegistry } from './registry.js';
import { awsEc2InstanceIdentityCollector, awsEc2InstanceIdentityTrustProvider } from './trust/aws-ec2-instance-identity/index.js';
import { awsIamCollector, awsIamTrustProvider } from './trust/aws-iam/index.js';
import { azureManagedIdentityCollector, azureManagedIdentityTrustProvider } from './trust/azure-managed-identity/index.js';
import { gcpIdentityTokenCollector, gcpIdentityTokenTrustProvider } from './trust/gcp-identity-token/index.js';
import { githubActionsCollector, githubActionsTrustProvider } from './trust/github-actions/index.js';
import { kubernetesCollector, kubernetesTrustProvider } from './trust/kubernetes/index.js';
import { oidcCollector, oidcTrustProvider } from './trust/oidc/index.js';

export const builtinTrustProviders: readonly TrustProvider[] = [
  oidcTrustProvider,
  kubernetesTrustProvider,
  githubActionsTrustProvider,
  gcpIdentityTokenTrustProvider,
  azureManagedIdentityTrustProvider,
  awsEc2InstanceIdentityTrustProvider,
  awsIamTrustProvider,
];
/**
 * In `'auto'` order: collectors that only look at files and variables first; the ones whose
 * detection may probe a metadata endpoint (up to 300 ms off their cloud) last. Registries built
 * here hold them for compatibility; the SDK takes them from `builtinCollectorLoaders`
 * (collectors.ts), which lists the same ones in the same order and loads each on demand.
 */
export const builtinEvidenceCollectors: readonly EvidenceCollector[] = [
  kubernetesCollector,
  githubActionsCollector,
  oidcCollector,
  awsIamCollector,
  azureManagedIdentityCollector,
  gcpIdentityTokenCollector,
  awsEc2InstanceIdentityCollector,
];
export const builtinCredentialProviders: readonly CredentialProvider[] = [
  apiKeyCredentialProvider,
  basicCredentialProvider,
  workloadJwtCredentialProvider,
  oauth2ClientCredentialsProvider,
  awsStsCredentialProvider,
  gcpWorkloadIdentityFederationProvider,
  azureWorkloadIdentityFederationProvider,
];
export const builtinAccessConditions: readonly AccessCondition[] = [timeWindowCondition, sourceIpCondition];

export interface CreateProviderRegistryOptions {
  /** Register the built-in providers (default true). Custom ones are added with `register*`. */
  builtins?: boolean;
}

export function createProviderRegistry({ builtins = true }: CreateProviderRegistryOptions = {}): ProviderRegistry {
  const registry = new ProviderRegistry();
  if (!builtins) return registry;
  for (const provider of builtinTrustProviders) registry.registerTrustProvider(provider);
  for (const collector of builtinEvidenceCollectors) registry.registerEvidenceCollector(collector);
  for (const provider of builtinCredentialProviders) registry.registerCredentialProvider(provider);
  for (const condition of builtinAccessConditions) registry.registerAccessCondition(condition);
  return registry;
}
