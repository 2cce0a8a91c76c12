import { isDeepStrictEqual } from 'node:util';
import type { SecretBox } from '../crypto/secret-box.js';
import { ApiError, notFound, validationError, type ApiErrorDetail } from '../api/errors.js';
import { isUuid, uuidv7 } from '../ids.js';
import { StoreError, type Store, type StoreWriter, type StoredObject } from '../store/types.js';
import type { Principal } from '../auth/roles.js';
import { authorizeKind, canSee, checkAdminKeyScope, checkCreateScope, guardsSecretDelivery } from './access.js';
import { applyCreateDefaults, checkReferences, checkWellFormed, validateTyped, type TypedSchemaLookup } from './validate.js';
import type { KindDefinition } from './kinds.js';
import { decodeCursor, encodeCursor, presentObject } from './present.js';
import { mergeSecrets, openSecrets, sealSecrets } from './secrets.js';
import { recordAdminChange } from './audit-change.js';
import { checkAdminKeyName, createAdminKeySecret, guardLastAdminKey } from './admin-keys.js';
import { checkSecretsFollowDestination } from './secret-destinations.js';
import { credentialProvidersOf, guardSecretDelivery } from './secret-delivery.js';

export const DEFAULT_RESOURCE_SET = 'default';

export interface ListParams {
  name?: string;
  resourceSetId?: string;
  cursor?: string;
  limit: number;
}

/** A committed change: the object as stored now, or `object` undefined when it was deleted. */
export interface ObjectChange {
  id: string;
  kind: StoredObject['kind'];
  object?: StoredObject;
}

export interface ObjectServiceOptions {
  store: Store;
  box: SecretBox;
  schemas: TypedSchemaLookup;
  now?: () => Date;
  /** Called after each write commits, before the API answers (keeps the decision index current). */
  onChange?: (change: ObjectChange) => void;
}

type Body = Record<string, unknown>;

/**
 * Create, read, update and delete of every admin object, with the checks that hold for all of
 * them: role and scope, schema beyond JSON Schema (provider configs), references within one
 * resource set, write-only secrets, and an `admin.change` audit event in the same transaction.
 */
export class ObjectService {
  readonly #store: Store;
  readonly #box: SecretBox;
  readonly #schemas: TypedSchemaLookup;
  readonly #now: () => Date;
  readonly #onChange: (change: ObjectChange) => void;

  constructor(options: ObjectServiceOptions) {
    this.#store = options.store;
    this.#box = options.box;
    this.#schemas = options.schemas;
    this.#now = options.now ?? (() => new Date());
    this.#onChange = options.onChange ?? (() => {});
  }

  async list(principal: Principal, def: KindDefinition, params: ListParams) {
    authorizeKind(principal, def, 'read');
    let afterId: string | undefined;
    if (params.cursor !== undefined) {
      afterId = decodeCursor(params.cursor);
      if (afterId === undefined || !isUuid(afterId)) throw new ApiError('invalid_cursor', 'The cursor is not valid');
    }
    let resourceSetIds: readonly string[] | undefined =
      def.global || principal.resourceSetIds === null ? undefined : [...principal.resourceSetIds];
    if (params.resourceSetId !== undefined && !def.global) {
      const wanted = params.resourceSetId;
      resourceSetIds = resourceSetIds === undefined || resourceSetIds.includes(wanted) ? [wanted] : [];
    }
    // Global kinds are filtered by visibility after reading, so read pages until this one is full.
    const items: StoredObject[] = [];
    let hasMore = false;
    while (items.length <= params.limit) {
      const batch = await this.#store.listObjects({
        kind: def.kind,
        ...(resourceSetIds ? { resourceSetIds } : {}),
        ...(params.name !== undefined ? { name: params.name } : {}),
        ...(afterId !== undefined ? { afterId } : {}),
        limit: params.limit + 1,
      });
      for (const object of batch) {
        if (items.length === params.limit) {
          hasMore = true;
          break;
        }
        if (canSee(principal, def, object)) items.push(object);
      }
      if (hasMore || batch.length <= params.limit) break;
      afterId = batch[batch.length - 1]!.id;
    }
    const last = items[items.length - 1];
    return {
      items: items.map((object) => presentObject(def, object)),
      nextCursor: hasMore && last ? encodeCursor(last.id) : null,
    };
  }

  async get(principal: Principal, def: KindDefinition, id: string) {
    authorizeKind(principal, def, 'read');
    return presentObject(def, await this.#load(this.#store, principal, def, id));
  }

  /** `presetAdminKey` lets first start take TESSERA_BOOTSTRAP_ADMIN_KEY instead of generating a key. */
  async create(principal: Principal, def: KindDefinition, body: Body, presetAdminKey?: string) {
    authorizeKind(principal, def, 'write');
    rejectIllFormed(body);
    let stored: StoredObject | undefined;
    const result = await this.#transaction(async (tx) => {
      const id = uuidv7();
      const now = this.#now().toISOString();
      // Scope before existence: a key must not tell a set it cannot see from one that does not exist.
      if (typeof body.resourceSetId === 'string') checkCreateScope(principal, def, body.resourceSetId);
      const resourceSetId = def.global ? null : await this.#resolveResourceSet(tx, body.resourceSetId);
      checkCreateScope(principal, def, resourceSetId);
      const spec = pick(body, def.specFields);
      applyCreateDefaults(def, spec);
      if (def.kind === 'admin-key') checkAdminKeyScope(principal, spec);
      const secrets = mergeSecrets({}, (body.secrets as Record<string, string | null> | undefined) ?? {});
      this.#validate(def, spec, def.hasSecrets ? secrets : undefined);
      const object: StoredObject = {
        id,
        kind: def.kind,
        resourceSetId,
        name: body.name as string,
        description: (body.description as string | undefined) ?? '',
        enabled: (body.enabled as boolean | undefined) ?? true,
        spec,
        secrets: def.hasSecrets ? sealSecrets(this.#box, id, secrets) : null,
        lookupKey: null,
        refs: await checkReferences(tx, principal, def, spec, resourceSetId),
        createdAt: now,
        updatedAt: now,
      };
      let adminKey: string | undefined;
      if (def.kind === 'admin-key') ({ key: adminKey, lookupKey: object.lookupKey } = createAdminKeySecret(presetAdminKey));
      if (guardsSecretDelivery(principal)) await guardSecretDelivery(tx, undefined, object);
      if (def.kind === 'admin-key') await checkAdminKeyName(tx, object);
      await tx.insertObject(object);
      stored = object;
      const fields = createdFields(body);
      await recordAdminChange(tx, principal, def, object, 'create', fields, this.#now(), await concerns(tx, object, fields));
      const view = presentObject(def, object);
      return adminKey === undefined ? view : { ...view, key: adminKey };
    });
    this.#onChange({ id: stored!.id, kind: def.kind, object: stored! });
    return result;
  }

  async update(principal: Principal, def: KindDefinition, id: string, body: Body) {
    authorizeKind(principal, def, 'write');
    rejectIllFormed(body);
    let stored: StoredObject | undefined;
    const result = await this.#transaction(async (tx) => {
      const current = await this.#load(tx, principal, def, id);
      const immutable = def.immutableFields.filter(
        (field) => body[field] !== undefined && !isDeepStrictEqual(body[field], current.spec[field]),
      );
      if (body.resourceSetId !== undefined && body.resourceSetId !== current.resourceSetId) immutable.push('resourceSetId');
      if (immutable.length > 0) {
        throw new ApiError('immutable_field', `${immutable.join(', ')} cannot change after creation`, [
          ...immutable.map((field) => ({ path: `/${field}`, message: 'cannot change after creation' })),
        ]);
      }
      const spec = { ...current.spec, ...pick(body, def.specFields) };
      if (def.kind === 'admin-key') checkAdminKeyScope(principal, spec);
      const secretChanges = body.secrets as Record<string, string | null> | undefined;
      const typed = def.typed ? this.#schemas.find(def.typed, current.spec.type as string) : undefined;
      checkSecretsFollowDestination(def, typed, current, spec, secretChanges);
      let secretsColumn = current.secrets;
      let secrets: Record<string, string> | undefined;
      if (def.hasSecrets) {
        secrets = openSecrets(this.#box, id, current.secrets);
        if (secretChanges) {
          secrets = mergeSecrets(secrets, secretChanges);
          secretsColumn = sealSecrets(this.#box, id, secrets);
        }
      }
      this.#validate(def, spec, secrets);
      const next: StoredObject = {
        ...current,
        name: (body.name as string | undefined) ?? current.name,
        description: (body.description as string | undefined) ?? current.description,
        enabled: (body.enabled as boolean | undefined) ?? current.enabled,
        spec,
        secrets: secretsColumn,
        refs: await checkReferences(tx, principal, def, spec, current.resourceSetId),
        updatedAt: this.#now().toISOString(),
      };
      if (def.kind === 'admin-key') {
        await guardLastAdminKey(tx, current, next, this.#now());
        await checkAdminKeyName(tx, next);
      }
      if (guardsSecretDelivery(principal)) await guardSecretDelivery(tx, current, next);
      const changed = changedFields(current, next, def, secretChanges);
      await tx.updateObject(next);
      stored = next;
      if (changed.length > 0) await recordAdminChange(tx, principal, def, next, 'update', changed, this.#now(), await concerns(tx, next, changed));
      return presentObject(def, next);
    });
    this.#onChange({ id, kind: def.kind, object: stored! });
    return result;
  }

  async delete(principal: Principal, def: KindDefinition, id: string): Promise<void> {
    authorizeKind(principal, def, 'write');
    let current: StoredObject | undefined;
    try {
      await this.#store.transaction(async (tx) => {
        current = await this.#load(tx, principal, def, id);
        if (def.kind === 'admin-key') await guardLastAdminKey(tx, current, undefined, this.#now());
        if (guardsSecretDelivery(principal)) await guardSecretDelivery(tx, current, undefined);
        await tx.deleteObject(id);
        await recordAdminChange(tx, principal, def, current, 'delete', [], this.#now(), await concerns(tx, current, []));
      });
      this.#onChange({ id, kind: def.kind });
    } catch (error) {
      // Read the referrers after the rollback: PostgreSQL refuses further statements in a failed transaction.
      if (error instanceof StoreError && error.code === 'foreign_key_violation' && current) {
        throw await stillReferenced(this.#store, def, current);
      }
      throw error;
    }
  }

  /** Loads an object the principal may see; anything else is a 404 (existence is not leaked). */
  async #load(reader: Pick<StoreWriter, 'getObject'>, principal: Principal, def: KindDefinition, id: string) {
    if (!isUuid(id)) throw new ApiError('invalid_id', 'The id is not a UUID');
    const object = await reader.getObject(id);
    if (!object || object.kind !== def.kind || !canSee(principal, def, object)) throw notFound(def.title);
    return object;
  }

  async #resolveResourceSet(tx: StoreWriter, requested: unknown): Promise<string> {
    if (typeof requested === 'string') {
      const set = await tx.getObject(requested);
      if (!set || set.kind !== 'resource-set') {
        throw new ApiError('invalid_reference', 'resourceSetId does not name a resource set', [
          { path: '/resourceSetId', message: 'no such resource set' },
        ]);
      }
      return set.id;
    }
    const fallback = await tx.getObjectByName('resource-set', null, DEFAULT_RESOURCE_SET);
    if (!fallback) {
      throw validationError([{ path: '/resourceSetId', message: 'required: there is no default resource set' }]);
    }
    return fallback.id;
  }

  #validate(def: KindDefinition, spec: Body, secrets: Record<string, string> | undefined): void {
    const problems: ApiErrorDetail[] = [...(def.check?.(spec) ?? []), ...validateTyped(this.#schemas, def, spec, secrets)];
    if (problems.length > 0) throw validationError(problems);
  }

  async #transaction<T>(fn: (tx: StoreWriter) => Promise<T>): Promise<T> {
    try {
      return await this.#store.transaction(fn);
    } catch (error) {
      if (error instanceof StoreError && error.code === 'unique_violation') {
        throw new ApiError('name_taken', 'An object of this kind with this name already exists in the resource set');
      }
      if (error instanceof StoreError && error.code === 'foreign_key_violation') {
        throw new ApiError('invalid_reference', 'A referenced object no longer exists');
      }
      throw error;
    }
  }
}

function rejectIllFormed(body: Body): void {
  const problems = checkWellFormed(body);
  if (problems.length > 0) throw validationError(problems);
}

function pick(body: Body, fields: readonly string[]): Body {
  const spec: Body = {};
  for (const field of fields) if (body[field] !== undefined) spec[field] = structuredClone(body[field]);
  return spec;
}

/** What an `admin.change` event says beyond the fields: the credential providers a policy or a moved server workload concerns. */
async function concerns(tx: StoreWriter, object: StoredObject, fields: readonly string[]): Promise<Record<string, unknown>> {
  const credentialProviders = await credentialProvidersOf(tx, object, fields);
  return credentialProviders ? { credentialProviders } : {};
}

function createdFields(body: Body): string[] {
  const fields = Object.keys(body).filter((field) => field !== 'secrets');
  for (const field of Object.keys((body.secrets as Body | undefined) ?? {})) fields.push(`secrets.${field}`);
  return fields;
}

function changedFields(
  before: StoredObject,
  after: StoredObject,
  def: KindDefinition,
  secretChanges: Record<string, unknown> | undefined,
): string[] {
  const changed: string[] = [];
  for (const field of ['name', 'description', 'enabled'] as const) {
    if (before[field] !== after[field]) changed.push(field);
  }
  for (const field of def.specFields) {
    if (!isDeepStrictEqual(before.spec[field], after.spec[field])) changed.push(field);
  }
  for (const field of Object.keys(secretChanges ?? {})) changed.push(`secrets.${field}`);
  return changed;
}

async function stillReferenced(reader: Pick<Store, 'listReferrers'>, def: KindDefinition, object: StoredObject): Promise<ApiError> {
  const referrers = await reader.listReferrers(object.id);
  const message =
    referrers.length > 0
      ? `${def.title} is still referenced by ${referrers.length} object(s); remove those references first`
      : `${def.title} is still referenced; remove those references first`;
  // A resource set can hold thousands of objects: name a few, count the rest.
  return new ApiError(
    'still_referenced',
    message,
    referrers.slice(0, 20).map((r) => ({ id: r.id, kind: r.kind, message: `referenced by ${r.kind} ${r.name}` })),
  );
}
