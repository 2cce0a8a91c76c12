/**
 * `kubernetes-service-account` trust provider: verifies a projected service-account token
 * (audience = this cloud, bound to a pod, short-lived) and vouches for the namespace, the
 * service account and, when the token is pod-bound, the pod and its node.
 *
 * Legacy secret-based tokens are refused: they never expire and carry no audience, so a
 * leaked one would be valid forever. A projected token has `exp`, a `kubernetes.io` claim
 * object, and a `sub` of `system:serviceaccount:<namespace>:<name>` agreeing with it.
 */
import type { JWTPayload } from 'jose';
import type { TrustProvider, VerifiedIdentity } from '../../contracts.js';
import { defineTrustProvider } from '../../define.js';
import { TrustError } from '../../errors.js';
import { ClaimReader, readEvidenceToken } from '../jwt/claims.js';
import { createJwtKeySource, type JwtTrustProviderOptions } from '../jwt/key-source.js';
import { verifyJwt } from '../jwt/verify-jwt.js';
import { type KubernetesConfig, kubernetesConfigSchema, validateKubernetesConfig } from './config.js';
import { KUBERNETES_EVIDENCE_TYPE, KUBERNETES_TYPE } from './evidence.js';

function refuse(message: string): TrustError {
  return new TrustError('evidence_invalid', message, { provider: KUBERNETES_TYPE });
}

/** Maps the verified payload of a projected token to claims; throws on anything else. */
export function kubernetesClaims(payload: JWTPayload): Record<string, string> {
  const root = new ClaimReader(payload, KUBERNETES_TYPE);
  const k8s = root.object('kubernetes.io');
  if (k8s === undefined) throw refuse('not a projected service account token (no "kubernetes.io" claim)');
  const namespace = k8s.required('namespace');
  const serviceAccount = k8s.object('serviceaccount');
  if (serviceAccount === undefined) throw refuse('missing "kubernetes.io.serviceaccount" claim');
  const name = serviceAccount.required('name');
  const claims: Record<string, string> = {
    'kubernetes.namespace': namespace,
    'kubernetes.serviceAccount': name,
    'kubernetes.serviceAccountUid': serviceAccount.required('uid'),
  };
  if (root.required('sub') !== `system:serviceaccount:${namespace}:${name}`) {
    throw refuse('"sub" does not match the service account in "kubernetes.io"');
  }
  const pod = k8s.object('pod');
  const podName = pod?.optional('name');
  const podUid = pod?.optional('uid');
  if (podName !== undefined) claims['kubernetes.podName'] = podName;
  if (podUid !== undefined) claims['kubernetes.podUid'] = podUid;
  const nodeName = k8s.object('node')?.optional('name');
  if (nodeName !== undefined) claims['kubernetes.nodeName'] = nodeName;
  return claims;
}

export function createKubernetesTrustProvider(
  options: JwtTrustProviderOptions = {},
): TrustProvider<KubernetesConfig> & { readonly configSchema: typeof kubernetesConfigSchema } {
  const keySource = options.keySource ?? createJwtKeySource();
  return defineTrustProvider({
    specificationVersion: 'v1',
    type: KUBERNETES_TYPE,
    evidenceType: KUBERNETES_EVIDENCE_TYPE,
    configSchema: kubernetesConfigSchema,
    validate: validateKubernetesConfig,
    acceptedIssuers: (config) => [config.issuer],
    async verify(evidence, config, ctx): Promise<VerifiedIdentity> {
      const token = readEvidenceToken(evidence, KUBERNETES_EVIDENCE_TYPE, KUBERNETES_TYPE);
      const { payload, expiresAt } = await verifyJwt(token, config, ctx, keySource, { provider: KUBERNETES_TYPE });
      const claims = kubernetesClaims(payload);
      return { claims, expiresAt, subject: payload.sub as string };
    },
  });
}

/** The built-in instance, listed in the catalog. */
export const kubernetesTrustProvider = /* @__PURE__ */ createKubernetesTrustProvider();
