/**
 * The built-in evidence collectors as the SDK sees them: listed by name, in `'auto'` order, and
 * each loaded only when asked for (SPIRE keeps the agent's catalog apart from the server's in
 * the same way). Naming them loads nothing but the names; `load()` imports one collector's module,
 * which needs nothing a verifier, an issuer or a schema compiler needs, and which loads its cloud
 * SDK, if it has one, only when it collects.
 */
import type { EvidenceCollector } from './collector-contract.js';
import { AWS_EC2_INSTANCE_IDENTITY_TYPE } from './trust/aws-ec2-instance-identity/evidence.js';
import { AWS_IAM_TYPE } from './trust/aws-iam/evidence.js';
import { AZURE_MANAGED_IDENTITY_TYPE } from './trust/azure-managed-identity/evidence.js';
import { GCP_IDENTITY_TOKEN_TYPE } from './trust/gcp-identity-token/evidence.js';
import { GITHUB_ACTIONS_TYPE } from './trust/github-actions/evidence.js';
import { KUBERNETES_TYPE } from './trust/kubernetes/evidence.js';
import { OIDC_TYPE } from './trust/oidc/evidence.js';

/** A collector known by its type, loaded on demand. */
export interface CollectorLoader {
  readonly type: string;
  load(): Promise<EvidenceCollector>;
}

/**
 * In `'auto'` order: collectors that only look at files and variables first; the ones whose
 * detection may probe a metadata endpoint (up to 300 ms off their cloud) last. The control
 * plane's catalog (`builtinEvidenceCollectors`) lists the same collectors in the same order.
 */
export const builtinCollectorLoaders: readonly CollectorLoader[] = [
  { type: KUBERNETES_TYPE, load: async () => (await import('./trust/kubernetes/collect.js')).kubernetesCollector },
  { type: GITHUB_ACTIONS_TYPE, load: async () => (await import('./trust/github-actions/collect.js')).githubActionsCollector },
  { type: OIDC_TYPE, load: async () => (await import('./trust/oidc/collect.js')).oidcCollector },
  { type: AWS_IAM_TYPE, load: async () => (await import('./trust/aws-iam/collect.js')).awsIamCollector },
  { type: AZURE_MANAGED_IDENTITY_TYPE, load: async () => (await import('./trust/azure-managed-identity/collect.js')).azureManagedIdentityCollector },
  { type: GCP_IDENTITY_TOKEN_TYPE, load: async () => (await import('./trust/gcp-identity-token/collect.js')).gcpIdentityTokenCollector },
  { type: AWS_EC2_INSTANCE_IDENTITY_TYPE, load: async () => (await import('./trust/aws-ec2-instance-identity/collect.js')).awsEc2InstanceIdentityCollector },
];
