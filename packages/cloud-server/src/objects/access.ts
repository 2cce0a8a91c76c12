import { ApiError } from '../api/errors.js';
import { ALL_RESOURCE_SETS, inScope, isGlobal, roleAllows, type Principal } from '../auth/roles.js';
import type { ObjectKind, StoredObject } from '../store/types.js';
import type { KindDefinition } from './kinds.js';

/**
 * Role and scope checks for admin objects (the matrix is documented in auth/roles.ts).
 * A role that may not touch a kind at all gets 403; an object outside the key's scope is
 * invisible (404), so a scoped key cannot probe which ids exist elsewhere.
 */
export function authorizeKind(principal: Principal, def: KindDefinition, access: 'read' | 'write'): void {
  let allowed: boolean;
  if (def.kind === 'admin-key') allowed = roleAllows(principal, 'manage-keys');
  else if (def.kind === 'resource-set' && access === 'write') allowed = principal.role === 'admin' && isGlobal(principal);
  else if (access === 'write' && PROVIDER_KINDS.has(def.kind)) allowed = roleAllows(principal, 'write-providers');
  else allowed = roleAllows(principal, access);
  if (!allowed) {
    throw new ApiError('forbidden', `The ${principal.role} role may not ${access} ${def.title.toLowerCase()}s`);
  }
}

/** Kinds that decide who may attest or hold secrets: written with the `write-providers` grant. */
const PROVIDER_KINDS: ReadonlySet<ObjectKind> = new Set(['trust-provider', 'credential-provider', 'log-stream']);

/** Whether the principal's writes must leave stored secrets' delivery alone (objects/secret-delivery.ts). */
export function guardsSecretDelivery(principal: Principal): boolean {
  return !roleAllows(principal, 'write-providers');
}

export function canSee(principal: Principal, def: KindDefinition, object: StoredObject): boolean {
  if (def.kind === 'resource-set') return inScope(principal, object.id);
  if (def.kind === 'admin-key') return coversKeyScope(principal, object.spec.resourceSetIds as string[]);
  return inScope(principal, object.resourceSetId);
}

export function checkCreateScope(principal: Principal, def: KindDefinition, resourceSetId: string | null): void {
  if (!def.global && !inScope(principal, resourceSetId)) {
    throw new ApiError('forbidden', 'This admin key may not write to that resource set');
  }
}

/** A key may only hand out (or keep) a scope it holds itself: no escalation through key management. */
export function checkAdminKeyScope(principal: Principal, spec: Record<string, unknown>): void {
  if (!coversKeyScope(principal, spec.resourceSetIds as string[])) {
    throw new ApiError('forbidden', 'An admin key may only grant resource sets within its own scope');
  }
}

function coversKeyScope(principal: Principal, resourceSetIds: readonly string[]): boolean {
  if (isGlobal(principal)) return true;
  if (resourceSetIds.includes(ALL_RESOURCE_SETS)) return false;
  return resourceSetIds.every((id) => inScope(principal, id));
}
