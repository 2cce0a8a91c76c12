/**
 * Admin roles and what each may do. One table, read by every route, so the access matrix lives
 * in one place:
 *
 * | role    | read objects | write objects | admin keys | audit events | global ops (resource sets, signing keys) |
 * | ------- | ------------ | ------------- | ---------- | ------------ | ---------------------------------------- |
 * | admin   | in scope     | in scope      | in scope   | in scope     | only with scope ["*"]                    |
 * | editor  | in scope     | in scope      | no         | no           | no                                       |
 * | auditor | in scope     | no            | no         | in scope     | no                                       |
 *
 * "In scope" means the object's resource set is one of the key's `resourceSetIds`, or the key
 * holds `["*"]` (all resource sets).
 */

export const ADMIN_ROLES = ['admin', 'editor', 'auditor'] as const;
export type AdminRole = (typeof ADMIN_ROLES)[number];

export const ALL_RESOURCE_SETS = '*';

export type Action = 'read' | 'write' | 'manage-keys' | 'read-audit';

const GRANTS: Record<AdminRole, ReadonlySet<Action>> = {
  admin: new Set(['read', 'write', 'manage-keys', 'read-audit']),
  editor: new Set(['read', 'write']),
  auditor: new Set(['read', 'read-audit']),
};

/** Who is calling: resolved from the bearer admin key on every request. */
export interface Principal {
  keyId: string;
  keyName: string;
  role: AdminRole;
  /** null means every resource set (the key holds ["*"]). */
  resourceSetIds: ReadonlySet<string> | null;
}

export function roleAllows(principal: Principal, action: Action): boolean {
  return GRANTS[principal.role].has(action);
}

export function isGlobal(principal: Principal): boolean {
  return principal.resourceSetIds === null;
}

export function inScope(principal: Principal, resourceSetId: string | null): boolean {
  if (principal.resourceSetIds === null) return true;
  return resourceSetId !== null && principal.resourceSetIds.has(resourceSetId);
}

/** The resource set filter for list queries: undefined = all. */
export function scopeFilter(principal: Principal): readonly string[] | undefined {
  return principal.resourceSetIds === null ? undefined : [...principal.resourceSetIds];
}
