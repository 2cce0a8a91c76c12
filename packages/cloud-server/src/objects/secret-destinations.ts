import { isDeepStrictEqual } from 'node:util';
import { changedDestinations } from '@tessera/providers';
import { ApiError } from '../api/errors.js';
import type { StoredObject } from '../store/types.js';
import type { KindDefinition, TypedSchemas } from './kinds.js';
import { secretFieldNames } from './secrets.js';

/**
 * Secrets follow their destination (DESIGN §5, isolation model). A write that changes where an
 * object's stored secrets are sent — a config field its type's schema declares a destination
 * (`x-tessera-destination`), or the type itself — must carry every stored secret again (a value,
 * or null to remove it), so a secret only ever goes where someone who knew it sent it. Without
 * them the write is refused with `secrets_required_for_destination_change`, and nothing changes.
 */
export function checkSecretsFollowDestination(
  def: KindDefinition,
  schemas: TypedSchemas | undefined,
  current: StoredObject,
  nextSpec: Record<string, unknown>,
  secretChanges: Record<string, unknown> | undefined,
): void {
  if (!def.hasSecrets) return;
  const missing = secretFieldNames(current.secrets).filter((field) => !Object.hasOwn(secretChanges ?? {}, field));
  if (missing.length === 0) return;
  const changed = changedPaths(schemas, current.spec, nextSpec);
  if (changed.length === 0) return;
  throw new ApiError(
    'secrets_required_for_destination_change',
    `${changed.join(', ')} decides where this object's secrets are sent: send every secret again in the same request (missing: ${missing.map((field) => `secrets.${field}`).join(', ')}), or null to remove one`,
    [
      ...changed.map((path) => ({ path, message: 'decides where the secrets are sent' })),
      ...missing.map((field) => ({ path: `/secrets/${field}`, message: 'required when a destination changes' })),
    ],
  );
}

function changedPaths(schemas: TypedSchemas | undefined, before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  if (before.type !== after.type) return ['/type'];
  const [from, to] = [before.config ?? {}, after.config ?? {}];
  // A type whose schema is not loaded here: any change of its config may be one of destination.
  if (!schemas) return isDeepStrictEqual(from, to) ? [] : ['/config'];
  return changedDestinations(schemas.configSchema, from, to).map((pointer) => `/config${pointer}`);
}
