import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { KeyRing } from '../keys/key-ring.js';
import { SIGNING_ALGORITHMS } from '../keys/signing-key.js';
import type { Store } from '../store/types.js';

/** Unauthenticated routes: health probes and the OIDC issuer documents. */
export function registerPublicRoutes(
  app: FastifyInstance,
  options: { store: Store; keyRing: KeyRing; issuer: () => string; isShuttingDown: () => boolean },
): void {
  const { store, keyRing, issuer } = options;

  app.get('/healthz', { schema: { tags: ['Health'], summary: 'Liveness', security: [] } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { tags: ['Health'], summary: 'Readiness: the store answers', security: [] } }, async (request, reply) => {
    if (options.isShuttingDown()) return reply.status(503).send({ status: 'shutting_down' });
    try {
      await store.ping();
      return { status: 'ready' };
    } catch (error) {
      request.log.warn({ err: error }, 'store not reachable');
      return reply.status(503).send({ status: 'store_unavailable' });
    }
  });

  app.get(
    '/.well-known/openid-configuration',
    { schema: { tags: ['OIDC'], summary: 'OpenID Provider metadata of this control plane', security: [] } },
    async (_request, reply) => {
      void reply.header('cache-control', 'public, max-age=300');
      return {
        issuer: issuer(),
        jwks_uri: `${issuer()}/.well-known/jwks.json`,
        response_types_supported: ['id_token'],
        subject_types_supported: ['public'],
        // ES256 signs by default; RS256 signs only tokens for relying parties that accept nothing else (Entra ID).
        id_token_signing_alg_values_supported: [...SIGNING_ALGORITHMS],
        claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti'],
      };
    },
  );

  app.get(
    '/.well-known/jwks.json',
    {
      schema: {
        tags: ['OIDC'],
        summary: 'Public keys that verify tokens this control plane signs',
        security: [],
        response: { 200: Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown())) }) },
      },
    },
    async (_request, reply) => {
      // Short cache: verifiers must see a rotated key well before tokens signed with it expire.
      void reply.header('cache-control', 'public, max-age=60');
      return keyRing.jwks();
    },
  );
}
