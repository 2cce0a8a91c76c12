/**
 * Collector half of `kubernetes-service-account`: reads the projected service-account token
 * the kubelet mounts into the pod. The file is read again on every collect because the
 * kubelet rotates it (at 80% of its lifetime). Mount it with this cloud as audience:
 *
 *   volumes: [{ name: tessera-token, projected: { sources: [{ serviceAccountToken:
 *     { path: tessera-token, audience: https://tessera.example.com, expirationSeconds: 3600 } }] } }]
 *   volumeMounts: [{ name: tessera-token, mountPath: /var/run/secrets/tokens }]
 */
import { type EvidenceCollector, defineEvidenceCollector } from '../../collector-contract.js';
import { isReadableFile, readTokenFile } from '../jwt/token-file.js';
import { KUBERNETES_EVIDENCE_TYPE, KUBERNETES_TYPE } from './evidence.js';

export const DEFAULT_KUBERNETES_TOKEN_FILE = '/var/run/secrets/tokens/tessera-token';
export const KUBERNETES_TOKEN_FILE_ENV = 'TESSERA_KUBERNETES_TOKEN_FILE';

export interface KubernetesCollectorOptions {
  /** Token file; default `$TESSERA_KUBERNETES_TOKEN_FILE`, else `/var/run/secrets/tokens/tessera-token`. */
  tokenFile?: string;
  /** Environment to read `TESSERA_KUBERNETES_TOKEN_FILE` from (default `process.env`). */
  env?: Record<string, string | undefined>;
}

export function createKubernetesCollector(options: KubernetesCollectorOptions = {}): EvidenceCollector {
  // Resolved on each call, so a variable set after start-up (tests, wrappers) is honoured.
  const tokenFile = (): string =>
    options.tokenFile ?? ((options.env ?? process.env)[KUBERNETES_TOKEN_FILE_ENV] || DEFAULT_KUBERNETES_TOKEN_FILE);
  return defineEvidenceCollector({
    specificationVersion: 'v1',
    type: KUBERNETES_TYPE,
    evidenceType: KUBERNETES_EVIDENCE_TYPE,
    detect: () => isReadableFile(tokenFile()),
    async collect() {
      return { type: KUBERNETES_EVIDENCE_TYPE, token: await readTokenFile(tokenFile(), KUBERNETES_TYPE) };
    },
  });
}

/** The built-in instance: active when the token file exists. */
export const kubernetesCollector = /* @__PURE__ */ createKubernetesCollector();
