import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { ApiError } from './errors.js';
import { errorResponses, principalOf } from './admin-routes.js';
import { isGlobal, type Principal } from '../auth/roles.js';
import type { KeyRing, RotatedKey } from '../keys/key-ring.js';
import { SIGNING_ALGORITHMS } from '../keys/signing-key.js';
import type { Store } from '../store/types.js';
import { uuidv7 } from '../ids.js';

/** Every rotation is an audited admin action, whether through the API or the CLI. */
export async function recordKeyRotation(
  store: Pick<Store, 'transaction'>,
  actor: { keyId: string; keyName: string },
  result: { kid: string; retiredKid: string | null; keys?: RotatedKey[] },
  now = new Date(),
): Promise<void> {
  await store.transaction((tx) =>
    tx.appendAuditEvent({
      id: uuidv7(now.getTime()),
      time: now.toISOString(),
      kind: 'signing-key.rotate',
      outcome: 'success',
      reason: null,
      resourceSetId: null,
      actor: actor.keyId,
      clientWorkloadId: null,
      serverWorkloadId: null,
      objectId: null,
      data: {
        kid: result.kid,
        retiredKid: result.retiredKid,
        ...(result.keys === undefined ? {} : { keys: result.keys }),
        actorName: actor.keyName,
      },
    }),
  );
}

const SigningAlgorithm = Type.Union(
  SIGNING_ALGORITHMS.map((alg) => Type.Literal(alg)),
  { description: 'ES256 signs by default; RS256 signs only tokens for relying parties that accept nothing else, such as Entra ID.' },
);

const SigningKey = Type.Object({
  kid: Type.String(),
  alg: SigningAlgorithm,
  status: Type.Union([Type.Literal('active'), Type.Literal('retired')]),
  createdAt: Type.String({ format: 'date-time' }),
  retiredAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  publishUntil: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

function requireGlobalAdmin(principal: Principal): void {
  if (principal.role !== 'admin' || !isGlobal(principal)) {
    throw new ApiError('forbidden', 'Signing keys are managed by admin keys with access to all resource sets');
  }
}

/** The control plane's token-signing keys: public metadata and rotation. Private halves never leave the store. */
export function registerSigningKeyRoutes(app: FastifyInstance, store: Store, keyRing: KeyRing): void {
  app.get(
    '/api/v1/signing-keys',
    {
      schema: {
        tags: ['Signing key'],
        summary: 'List signing keys (public metadata only)',
        response: { 200: Type.Object({ items: Type.Array(SigningKey) }), ...errorResponses },
      },
    },
    async (request) => {
      requireGlobalAdmin(principalOf(request));
      const keys = await store.listSigningKeys();
      return {
        items: keys.map((key) => ({
          kid: key.kid,
          alg: key.alg,
          status: key.retiredAt === null ? 'active' : 'retired',
          createdAt: key.createdAt,
          retiredAt: key.retiredAt,
          publishUntil: key.publishUntil,
        })),
      };
    },
  );

  app.post(
    '/api/v1/signing-keys/rotate',
    {
      schema: {
        tags: ['Signing key'],
        summary: 'Rotate the signing keys',
        description:
          'A new key of each algorithm in use signs from now on: always ES256, and RS256 once something has asked for it. ' +
          'The previous public keys stay in the JWKS until every token they signed has expired. ' +
          '`kid` and `retiredKid` describe the ES256 key; `keys` lists every key created.',
        response: {
          200: Type.Object({
            kid: Type.String(),
            retiredKid: Type.Union([Type.String(), Type.Null()]),
            keys: Type.Array(
              Type.Object({ alg: SigningAlgorithm, kid: Type.String(), retiredKid: Type.Union([Type.String(), Type.Null()]) }),
              { description: 'Every key the rotation created: ES256, then RS256 when an RS256 key was in use.' },
            ),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      requireGlobalAdmin(principal);
      const result = await keyRing.rotate();
      await recordKeyRotation(store, principal, result);
      request.log.info({ kid: result.kid, retiredKid: result.retiredKid, actor: principal.keyId }, 'signing key rotated');
      return result;
    },
  );
}
