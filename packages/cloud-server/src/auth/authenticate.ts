import { timingSafeEqual } from 'node:crypto';
import { ApiError } from '../api/errors.js';
import { hashAdminKey } from '../objects/admin-keys.js';
import type { StoreReader } from '../store/types.js';
import { ALL_RESOURCE_SETS, type AdminRole, type Principal } from './roles.js';

/** The scheme is case-insensitive (RFC 9110 §11.1), followed by one or more spaces. */
const BEARER = /^Bearer +([A-Za-z0-9._~+/=-]{16,512})$/i;

/**
 * One answer for every credential that is presented and refused, malformed or unknown alike:
 * a distinct message for malformed keys would tell a prober the accepted alphabet and length.
 */
const REJECTED = 'The admin key is not valid (expected Authorization: Bearer <admin key>)';

/**
 * Resolves `Authorization: Bearer <admin key>` to a principal. Every failure — absent, malformed,
 * unknown, disabled or expired key — answers the same 401, so the answer tells nothing about
 * which keys exist.
 */
export async function authenticateAdmin(
  store: Pick<StoreReader, 'getObjectByLookupKey'>,
  authorization: string | undefined,
  now: Date,
): Promise<Principal> {
  if (authorization === undefined || authorization === '') {
    throw new ApiError('unauthorized', 'An admin key is required: Authorization: Bearer <key>');
  }
  const match = BEARER.exec(authorization);
  if (!match) throw new ApiError('unauthorized', REJECTED);
  const lookupKey = hashAdminKey(match[1]!);
  const key = await store.getObjectByLookupKey(lookupKey);
  if (
    !key ||
    key.kind !== 'admin-key' ||
    key.lookupKey === null ||
    !timingSafeEqual(Buffer.from(key.lookupKey), Buffer.from(lookupKey)) ||
    !key.enabled ||
    isExpired(key.spec.expiresAt, now)
  ) {
    throw new ApiError('unauthorized', REJECTED);
  }
  const resourceSetIds = key.spec.resourceSetIds as string[];
  return {
    keyId: key.id,
    keyName: key.name,
    role: key.spec.role as AdminRole,
    resourceSetIds: resourceSetIds[0] === ALL_RESOURCE_SETS ? null : new Set(resourceSetIds),
  };
}

function isExpired(expiresAt: unknown, now: Date): boolean {
  return typeof expiresAt === 'string' && Date.parse(expiresAt) <= now.getTime();
}
