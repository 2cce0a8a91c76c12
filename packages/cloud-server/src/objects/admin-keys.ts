import { createHash, randomBytes } from 'node:crypto';
import { ApiError } from '../api/errors.js';
import { ALL_RESOURCE_SETS } from '../auth/roles.js';
import type { StoreReader, StoreWriter, StoredObject } from '../store/types.js';

/** Admin keys are 256 random bits behind a recognisable prefix, so secret scanners can find leaked ones. */
export const ADMIN_KEY_PREFIX = 'tsk_';

export function generateAdminKey(): string {
  return ADMIN_KEY_PREFIX + randomBytes(32).toString('base64url');
}

/**
 * Keys are stored only as their SHA-256. A slow password hash buys nothing here: the keys are
 * high-entropy random values, not passwords, and the hash is the unique lookup index.
 */
export function hashAdminKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function createAdminKeySecret(preset?: string): { key: string; lookupKey: string } {
  const key = preset ?? generateAdminKey();
  return { key, lookupKey: hashAdminKey(key) };
}

export function isActiveGlobalAdmin(object: StoredObject, now: Date): boolean {
  const spec = object.spec as { role?: string; resourceSetIds?: string[]; expiresAt?: string | null };
  return (
    object.kind === 'admin-key' &&
    object.enabled &&
    spec.role === 'admin' &&
    spec.resourceSetIds?.[0] === ALL_RESOURCE_SETS &&
    (spec.expiresAt == null || Date.parse(spec.expiresAt) > now.getTime())
  );
}

/** What the admin-key checks hold while they read the keys and then write one. */
const ADMIN_KEYS = 'admin-keys';

/**
 * Refuses a change that would leave nobody able to administer the control plane. One such check
 * at a time (two keys disabled at once would each see the other still active).
 */
export async function guardLastAdminKey(
  tx: Pick<StoreWriter, 'listObjects' | 'serialize'>,
  current: StoredObject,
  next: StoredObject | undefined,
  now: Date,
): Promise<void> {
  if (!isActiveGlobalAdmin(current, now) || (next && isActiveGlobalAdmin(next, now))) return;
  await tx.serialize(ADMIN_KEYS);
  let afterId: string | undefined;
  for (;;) {
    const page = await tx.listObjects({ kind: 'admin-key', limit: 200, ...(afterId ? { afterId } : {}) });
    if (page.some((key) => key.id !== current.id && isActiveGlobalAdmin(key, now))) return;
    if (page.length < 200) break;
    afterId = page[page.length - 1]!.id;
  }
  throw new ApiError('last_admin_key', 'This is the last active admin key with access to all resource sets');
}

/** The resource sets of a key as one comparable value: [A, B] and [B, A] are one scope. */
function scopeOf(key: StoredObject): string {
  return JSON.stringify([...((key.spec.resourceSetIds as string[] | undefined) ?? [])].sort());
}

/**
 * An admin key's name is unique among the keys of the same resource sets, not among all keys:
 * whoever may write a key of that scope may also read every key it could clash with, so
 * `name_taken` tells a scoped admin nothing about keys outside its scope. (Checked here, not by
 * a unique index, because the scope is a list in the spec; serialized with every other such
 * check, so that keys created at once, by one replica or several, cannot both pass it.)
 */
export async function checkAdminKeyName(tx: Pick<StoreWriter, 'listObjects' | 'serialize'>, key: StoredObject): Promise<void> {
  await tx.serialize(ADMIN_KEYS);
  const namesakes = await tx.listObjects({ kind: 'admin-key', name: key.name, limit: 10_000 });
  if (namesakes.some((other) => other.id !== key.id && scopeOf(other) === scopeOf(key))) {
    throw new ApiError('name_taken', 'An admin key with this name already exists for the same resource sets');
  }
}
