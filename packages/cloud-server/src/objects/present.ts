import type { StoredObject } from '../store/types.js';
import type { KindDefinition } from './kinds.js';
import { secretFieldNames } from './secrets.js';

/** The API view of a stored object: common fields, the kind's fields, and which secrets are set. */
export function presentObject(definition: KindDefinition, object: StoredObject): Record<string, unknown> {
  const view: Record<string, unknown> = { id: object.id };
  if (!definition.global) view.resourceSetId = object.resourceSetId;
  view.name = object.name;
  view.description = object.description;
  view.enabled = object.enabled;
  for (const field of definition.specFields) {
    if (object.spec[field] !== undefined) view[field] = object.spec[field];
  }
  if (definition.hasSecrets) view.secretFields = secretFieldNames(object.secrets);
  view.createdAt = object.createdAt;
  view.updatedAt = object.updatedAt;
  return view;
}

/** Opaque page cursors: the last id of the page, base64url-encoded. */
export function encodeCursor(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): string | undefined {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(cursor)) return undefined;
  return Buffer.from(cursor, 'base64url').toString('utf8');
}
