export {
  createKubernetesCollector,
  DEFAULT_KUBERNETES_TOKEN_FILE,
  KUBERNETES_TOKEN_FILE_ENV,
  type KubernetesCollectorOptions,
  kubernetesCollector,
} from './collect.js';
export { type KubernetesConfig, kubernetesConfigSchema, validateKubernetesConfig } from './config.js';
export { KUBERNETES_EVIDENCE_TYPE, KUBERNETES_TYPE } from './evidence.js';
export { createKubernetesTrustProvider, kubernetesClaims, kubernetesTrustProvider } from './verify.js';
