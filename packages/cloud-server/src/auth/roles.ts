/**
 * Admin roles and what each may do. One table, read by every route, so the access matrix lives
 * in one place:
 *
 * | role          | read objects | write workloads, access conditions, access policies | write trust providers, credential providers, log streams | admin keys | audit events, request metrics | global ops (resource sets, signing keys) |
 * | ------------- | ------------ | ---------------------------------------------------- | --------------------------------------------------------- | ---------- | ----------------------------- | ---------------------------------------- |
 * | admin         | in scope     | in scope                                             | in scope                                                  | in scope   | in scope     | only with scope ["*"]                    |
 * | editor        | in scope     | in scope                                             | in scope                                                  | no         | no           | no                                       |
 * | policy-editor | in scope     | in scope, but never who receives a stored secret or where it is sent | no                                        | no         | no           | no                                       |
 * | auditor       | in scope     | no                                                   | no                                                        | no         | in scope     | no                                       |
 *
 * "In scope" means the object's resource set is one of the key's `resourceSetIds`, or the key
 * holds `["*"]` (all resource sets). The policy-editor's limit is objects/secret-delivery.ts.
 */

export const ADMIN_ROLES = ['admin', 'editor', 'policy-editor', 'auditor'] as const;
export type AdminRole = (typeof ADMIN_ROLES)[number];

export const ALL_RESOURCE_SETS = '*';

/**
 * `write`: client and server workloads, access conditions, access policies. `write-providers`:
 * what decides who may attest (trust providers) and what holds secrets (credential providers,
 * log streams). Who may not write providers may not change who receives their secrets either.
 */
export type Action = 'read' | 'write' | 'write-providers' | 'manage-keys' | 'read-audit';

const GRANTS: Record<AdminRole, ReadonlySet<Action>> = {
  admin: new Set(['read', 'write', 'write-providers', 'manage-keys', 'read-audit']),
  editor: new Set(['read', 'write', 'write-providers']),
  'policy-editor': new Set(['read', 'write']),
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
