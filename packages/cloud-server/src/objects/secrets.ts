import type { SecretBox } from '../crypto/secret-box.js';

/**
 * How an object's write-only secrets sit in the `secrets` column: the names of the fields that
 * are set (so reads can say which are set without decrypting) and one AES-256-GCM envelope of
 * the values, bound to the object id so it cannot be replayed onto another row.
 */
interface StoredSecrets {
  fields: string[];
  sealed: string;
}

const context = (objectId: string) => `object:${objectId}:secrets`;

export function sealSecrets(box: SecretBox, objectId: string, values: Record<string, string>): string | null {
  const fields = Object.keys(values).sort();
  if (fields.length === 0) return null;
  const stored: StoredSecrets = { fields, sealed: box.seal(JSON.stringify(values), context(objectId)) };
  return JSON.stringify(stored);
}

export function openSecrets(box: SecretBox, objectId: string, column: string | null): Record<string, string> {
  if (column === null) return {};
  const stored = JSON.parse(column) as StoredSecrets;
  return JSON.parse(box.open(stored.sealed, context(objectId))) as Record<string, string>;
}

export function secretFieldNames(column: string | null): string[] {
  return column === null ? [] : (JSON.parse(column) as StoredSecrets).fields;
}

/** Applies a write: a string sets a field, null removes it (JSON merge patch). */
export function mergeSecrets(
  current: Record<string, string>,
  changes: Record<string, string | null>,
): Record<string, string> {
  const next = { ...current };
  for (const [field, value] of Object.entries(changes)) {
    if (value === null) delete next[field];
    else next[field] = value;
  }
  return next;
}
