import { beforeAll, describe, expect, it } from 'vitest';
import type { VerifyContext } from '../../contracts.js';
import { validateProviderConfig } from '../../validate-config.js';
import { createJwtKeySource } from '../jwt/key-source.js';
import { describeJwtAttacks } from '../../../test/support/attack-suite.js';
import { AUDIENCE, createTestKey, expectRefused, jwksOf, NOW, NOW_SECONDS, signToken, type TestKey } from '../../../test/support/jwt-fixtures.js';
import { createKubernetesTrustProvider, type KubernetesConfig, kubernetesTrustProvider } from './index.js';

const projectedClaims = () => ({
  sub: 'system:serviceaccount:payments:billing-api',
  'kubernetes.io': {
    namespace: 'payments',
    serviceaccount: { name: 'billing-api', uid: '6f0c8c0e-1b1e-4a59-9a1a-2b7f2c9b2b11' },
    pod: { name: 'billing-api-7d9c5-x2x4q', uid: 'a1c9d2b4-5e6f-4a7b-8c9d-0e1f2a3b4c5d' },
    node: { name: 'node-3', uid: '0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e' },
    warnafter: NOW_SECONDS + 2880,
  },
});

describeJwtAttacks({
  name: 'kubernetes-service-account',
  provider: 'kubernetes-service-account',
  claims: projectedClaims,
  createVerifier: (config, keySource) => {
    const provider = createKubernetesTrustProvider({ keySource });
    return (token, ctx) => provider.verify({ type: 'kubernetes-token', token }, config, ctx);
  },
});

describe('kubernetes-service-account trust provider', () => {
  const issuer = 'https://kubernetes.default.svc.cluster.local';
  const ctx: VerifyContext = { audience: AUDIENCE, now: () => NOW, fetch: () => Promise.reject(new Error('no network')) };
  let key: TestKey;
  let config: KubernetesConfig;

  beforeAll(async () => {
    key = await createTestKey('cluster-key', 'RS256');
    config = { issuer, jwks: jwksOf(key) };
  });

  const sign = (claims: Record<string, unknown>) =>
    signToken({ iss: issuer, aud: [AUDIENCE], iat: NOW_SECONDS, nbf: NOW_SECONDS, exp: NOW_SECONDS + 3600, ...claims }, key);
  const verify = (token: string) => createKubernetesTrustProvider({ keySource: createJwtKeySource() }).verify({ type: 'kubernetes-token', token }, config, ctx);

  it('vouches for the namespace, service account, pod and node of a projected token', async () => {
    await expect(verify(await sign(projectedClaims()))).resolves.toEqual({
      claims: {
        'kubernetes.namespace': 'payments',
        'kubernetes.serviceAccount': 'billing-api',
        'kubernetes.serviceAccountUid': '6f0c8c0e-1b1e-4a59-9a1a-2b7f2c9b2b11',
        'kubernetes.podName': 'billing-api-7d9c5-x2x4q',
        'kubernetes.podUid': 'a1c9d2b4-5e6f-4a7b-8c9d-0e1f2a3b4c5d',
        'kubernetes.nodeName': 'node-3',
      },
      expiresAt: new Date((NOW_SECONDS + 3600) * 1000),
      subject: 'system:serviceaccount:payments:billing-api',
    });
  });

  it('leaves out pod and node claims for a token not bound to a pod', async () => {
    const { pod: _pod, node: _node, ...unbound } = projectedClaims()['kubernetes.io'];
    const result = await verify(await sign({ ...projectedClaims(), 'kubernetes.io': unbound }));
    expect(Object.keys(result.claims).sort()).toEqual(['kubernetes.namespace', 'kubernetes.serviceAccount', 'kubernetes.serviceAccountUid']);
  });

  it('refuses a legacy secret-based token (no exp, no aud, flat claims)', async () => {
    const legacy = await signToken(
      {
        iss: issuer,
        sub: 'system:serviceaccount:payments:billing-api',
        'kubernetes.io/serviceaccount/namespace': 'payments',
        'kubernetes.io/serviceaccount/secret.name': 'billing-api-token-x7k2p',
        'kubernetes.io/serviceaccount/service-account.name': 'billing-api',
        'kubernetes.io/serviceaccount/service-account.uid': '6f0c8c0e-1b1e-4a59-9a1a-2b7f2c9b2b11',
      },
      key,
    );
    await expectRefused(verify(legacy), { code: 'evidence_invalid', message: 'missing "aud" claim', provider: 'kubernetes-service-account', token: legacy });
  });

  it('refuses a token with exp and aud but without the kubernetes.io claim object', async () => {
    const token = await sign({ sub: 'system:serviceaccount:payments:billing-api', 'kubernetes.io/serviceaccount/namespace': 'payments' });
    await expectRefused(verify(token), { code: 'evidence_invalid', message: 'not a projected service account token', provider: 'kubernetes-service-account', token });
  });

  it('refuses a token whose sub disagrees with the kubernetes.io claims', async () => {
    const token = await sign({ ...projectedClaims(), sub: 'system:serviceaccount:kube-system:admin' });
    await expectRefused(verify(token), { code: 'evidence_invalid', message: '"sub" does not match', provider: 'kubernetes-service-account', token });
  });

  it('refuses malformed kubernetes.io claims, naming the claim only', async () => {
    for (const [k8s, message] of [
      ['payments', '"kubernetes.io" claim is invalid'],
      [{ serviceaccount: { name: 'billing-api', uid: 'u' } }, 'missing "kubernetes.io.namespace" claim'],
      [{ namespace: 'payments' }, 'missing "kubernetes.io.serviceaccount" claim'],
      [{ namespace: 'payments', serviceaccount: { name: 'billing-api' } }, 'missing "kubernetes.io.serviceaccount.uid" claim'],
      [{ namespace: ['payments'], serviceaccount: { name: 'billing-api', uid: 'u' } }, '"kubernetes.io.namespace" claim is invalid'],
    ] as const) {
      const token = await sign({ sub: 'system:serviceaccount:payments:billing-api', 'kubernetes.io': k8s });
      await expectRefused(verify(token), { code: 'evidence_invalid', message, provider: 'kubernetes-service-account', token });
    }
  });

  it('takes evidence of type kubernetes-token only', async () => {
    await expectRefused(kubernetesTrustProvider.verify({ type: 'jwt', token: 'a.b.c' }, config, ctx), {
      code: 'evidence_invalid',
      message: "evidence must be { type: 'kubernetes-token', token }",
      provider: 'kubernetes-service-account',
    });
  });

  it('validates its config: one key source, the cluster issuer required', () => {
    expect(validateProviderConfig(kubernetesTrustProvider, { issuer, jwksUri: 'https://10.0.0.1:6443/openid/v1/jwks' })).toMatchObject({ ok: true });
    expect(validateProviderConfig(kubernetesTrustProvider, { jwksUri: 'https://10.0.0.1:6443/openid/v1/jwks' })).toEqual({
      ok: false,
      errors: [{ path: '/issuer', message: 'is required' }],
    });
    expect(validateProviderConfig(kubernetesTrustProvider, { issuer })).toEqual({
      ok: false,
      errors: [{ path: '', message: 'exactly one of jwksUri, jwks or discovery: true must be set' }],
    });
  });
});
