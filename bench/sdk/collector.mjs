// The benchmark's identity provider, as a collector a user would write: every collect mints a
// fresh ES256 JWT for the workload, signed by the key the orchestrator generated and pinned in the
// `oidc` trust provider (inline JWKS). Child processes get the key through TESSERA_BENCH_IDP.
import { createPrivateKey, sign } from 'node:crypto';

export const IDP_ISSUER = 'https://idp.bench.test';
export const SUBJECT = 'system:serviceaccount:bench:sdk-overhead';

/** `idp`: { privateJwk, kid } as the orchestrator passes it (JSON in TESSERA_BENCH_IDP). */
export function benchCollector(idp = JSON.parse(process.env.TESSERA_BENCH_IDP ?? 'null')) {
  if (!idp) throw new Error('TESSERA_BENCH_IDP is not set: run bench/sdk-overhead.mjs');
  const key = createPrivateKey({ key: idp.privateJwk, format: 'jwk' });
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return {
    specificationVersion: 'v1',
    type: 'bench-oidc',
    evidenceType: 'jwt',
    detect: async () => true,
    async collect(ctx) {
      const now = Math.floor(Date.now() / 1000);
      const input = `${encode({ alg: 'ES256', typ: 'JWT', kid: idp.kid })}.${encode({ iss: IDP_ISSUER, sub: SUBJECT, aud: ctx.audience, iat: now, exp: now + 600 })}`;
      const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
      return { type: 'jwt', token: `${input}.${signature}` };
    },
  };
}
