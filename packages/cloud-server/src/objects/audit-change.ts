import { uuidv7 } from '../ids.js';
import type { Principal } from '../auth/roles.js';
import type { StoreWriter, StoredObject } from '../store/types.js';
import type { KindDefinition } from './kinds.js';

export type ChangeAction = 'create' | 'update' | 'delete';

/**
 * Writes the `admin.change` event of one admin write, inside the write's own transaction, so
 * a change is never recorded without happening nor happens without being recorded. Only field
 * names are recorded; secret fields appear as `secrets.<name>`, never with their values.
 */
export async function recordAdminChange(
  tx: StoreWriter,
  principal: Principal,
  def: KindDefinition,
  object: StoredObject,
  action: ChangeAction,
  changedFields: string[],
  now: Date,
  /** More facts about the change, such as the credential providers it concerns. */
  extra: Record<string, unknown> = {},
): Promise<void> {
  await tx.appendAuditEvent({
    id: uuidv7(now.getTime()),
    time: now.toISOString(),
    kind: 'admin.change',
    outcome: 'success',
    reason: null,
    resourceSetId: object.resourceSetId,
    actor: principal.keyId,
    clientWorkloadId: null,
    serverWorkloadId: null,
    objectId: object.id,
    data: {
      action,
      objectKind: def.kind,
      objectName: object.name,
      actorName: principal.keyName,
      changedFields: [...changedFields].sort(),
      ...extra,
    },
  });
}
