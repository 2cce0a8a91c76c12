import { ApiError } from './api/errors.js';
import type { Principal } from './auth/roles.js';
import { ALL_RESOURCE_SETS } from './auth/roles.js';
import { KIND_BY_NAME } from './objects/kinds.js';
import { DEFAULT_RESOURCE_SET, type ObjectService } from './objects/service.js';
import type { Store } from './store/types.js';

/** The control plane acting on its own behalf (first start, CLI recovery), as recorded in audit events. */
export const SYSTEM_PRINCIPAL: Principal = {
  keyId: 'system',
  keyName: 'system',
  role: 'admin',
  resourceSetIds: null,
};

export const BOOTSTRAP_KEY_NAME = 'bootstrap';

export interface BootstrapResult {
  /** The new admin key, when one was generated (to be shown once); undefined otherwise. */
  generatedKey?: string;
  createdKey: boolean;
}

/**
 * On an empty store: the `default` resource set and a first admin key with access to every
 * resource set. Idempotent, and safe when several replicas start at once (names are unique: a
 * unique index for the resource set, checkAdminKeyName one check at a time for the key, so the
 * loser of a race finds the winner's objects).
 */
export async function bootstrap(store: Store, service: ObjectService, presetKey: string | undefined): Promise<BootstrapResult> {
  const resourceSets = KIND_BY_NAME.get('resource-set')!;
  if (!(await store.getObjectByName('resource-set', null, DEFAULT_RESOURCE_SET))) {
    await ignoreNameTaken(() =>
      service.create(SYSTEM_PRINCIPAL, resourceSets, {
        name: DEFAULT_RESOURCE_SET,
        description: 'Created on first start',
      }),
    );
  }
  const existing = await store.listObjects({ kind: 'admin-key', limit: 1 });
  if (existing.length > 0) return { createdKey: false };
  if (presetKey !== undefined) validatePresetKey(presetKey);
  const created = await ignoreNameTaken(() =>
    service.create(
      SYSTEM_PRINCIPAL,
      KIND_BY_NAME.get('admin-key')!,
      { name: BOOTSTRAP_KEY_NAME, description: 'Created on first start', role: 'admin', resourceSetIds: [ALL_RESOURCE_SETS] },
      presetKey,
    ),
  );
  if (!created) return { createdKey: false };
  return presetKey === undefined ? { createdKey: true, generatedKey: created.key as string } : { createdKey: true };
}

/** Checked with the other settings at start, so that a bad value stops the server before it opens the store or listens. */
export function validatePresetKey(key: string): void {
  if (!/^[A-Za-z0-9._~+/=-]{32,512}$/.test(key)) {
    throw new Error(
      'TESSERA_BOOTSTRAP_ADMIN_KEY must be 32 to 512 characters of letters, digits and ._~+/=- (generate one with `tessera-cloud admin-keys generate`)',
    );
  }
}

async function ignoreNameTaken<T>(create: () => Promise<T>): Promise<T | undefined> {
  try {
    return await create();
  } catch (error) {
    if (error instanceof ApiError && error.code === 'name_taken') return undefined;
    throw error;
  }
}
