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
import { ProviderRegistry } from './registry.js';
import { githubActionsCollector, githubActionsTrustProvider } from './trust/github-actions/index.js';
import { kubernetesCollector, kubernetesTrustProvider } from './trust/kubernetes/index.js';
import { oidcCollector, oidcTrustProvider } from './trust/oidc/index.js';

export const builtinTrustProviders: readonly TrustProvider[] = [oidcTrustProvider, kubernetesTrustProvider, githubActionsTrustProvider];
export const builtinEvidenceCollectors: readonly EvidenceCollector[] = [kubernetesCollector, githubActionsCollector, oidcCollector];
export const builtinCredentialProviders: readonly CredentialProvider[] = [
  apiKeyCredentialProvider,
  basicCredentialProvider,
  workloadJwtCredentialProvider,
  oauth2ClientCredentialsProvider,
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
