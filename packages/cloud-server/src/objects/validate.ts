import type { TSchema } from 'typebox';
import { ApiError, type ApiErrorDetail } from '../api/errors.js';
import { inScope, type Principal } from '../auth/roles.js';
import type { StoreWriter } from '../store/types.js';
import type { KindDefinition, TypedSchemas } from './kinds.js';

/** Finds the schemas of a provider `type` and validates values against them. */
export interface TypedSchemaLookup {
  find(category: NonNullable<KindDefinition['typed']>, type: string): TypedSchemas | undefined;
  /** Problems of `value` against `schema`, with JSON pointers relative to the value. */
  check(schema: TSchema, value: unknown): Array<{ path: string; message: string }>;
}

const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Every string of a write, keys included, must be well-formed Unicode. A lone UTF-16 surrogate
 * has no UTF-8 encoding: both stores would keep U+FFFD instead, so what the API acknowledged
 * would not be what is read back (nor, for a secret, what is used). Paths only, never values.
 */
export function checkWellFormed(value: unknown, path = ''): ApiErrorDetail[] {
  const problem = [{ path, message: 'must be well-formed Unicode (no lone surrogates)' }];
  if (typeof value === 'string') return LONE_SURROGATE.test(value) ? problem : [];
  if (Array.isArray(value)) return value.flatMap((item, index) => checkWellFormed(item, `${path}/${index}`));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([key, item]) =>
      LONE_SURROGATE.test(key) ? problem : checkWellFormed(item, `${path}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`),
    );
  }
  return [];
}

/** Defaults are applied here, not by the JSON-schema validator, so a PATCH never gains fields it did not send. */
export function applyCreateDefaults(def: KindDefinition, spec: Record<string, unknown>): void {
  switch (def.kind) {
    case 'server-workload':
      spec.pathPrefix ??= '/';
      break;
    case 'trust-provider':
      spec.rules ??= [];
      break;
    case 'credential-provider':
      spec.config ??= {};
      break;
    case 'access-policy':
      spec.accessConditionIds ??= [];
      break;
    case 'admin-key':
      spec.expiresAt ??= null;
      break;
  }
}

/** Validates `config` (and `secrets`) of a provider-backed kind against the schemas of its type. */
export function validateTyped(
  lookup: TypedSchemaLookup,
  def: KindDefinition,
  spec: Record<string, unknown>,
  secrets: Record<string, string> | undefined,
): ApiErrorDetail[] {
  if (!def.typed) return [];
  const type = spec.type as string;
  const schemas = lookup.find(def.typed, type);
  if (!schemas) return [{ path: '/type', message: `unknown ${def.title.toLowerCase()} type "${type}"` }];
  const problems: ApiErrorDetail[] = lookup
    .check(schemas.configSchema, spec.config ?? {})
    .map((p) => ({ path: `/config${p.path}`, message: p.message }));
  if (problems.length === 0) {
    for (const message of schemas.validate?.(spec.config ?? {}) ?? []) problems.push({ path: '/config', message });
  }
  if (secrets !== undefined && schemas.secretsSchema) {
    // Secret values never appear in messages: only the path and what is wrong with its shape.
    for (const p of lookup.check(schemas.secretsSchema, secrets)) {
      problems.push({ path: `/secrets${p.path}`, message: p.message });
    }
  } else if (secrets !== undefined && Object.keys(secrets).length > 0) {
    problems.push({ path: '/secrets', message: `type "${type}" takes no secrets` });
  }
  return problems;
}

/**
 * Every referenced id must name an object of the expected kind in the same resource set (admin
 * keys: resource sets within the caller's scope). Returns the ids to store as references; the
 * database's foreign keys then keep them valid under concurrent deletes.
 */
export async function checkReferences(
  tx: Pick<StoreWriter, 'getObject'>,
  principal: Principal,
  def: KindDefinition,
  spec: Record<string, unknown>,
  resourceSetId: string | null,
): Promise<string[]> {
  const problems: ApiErrorDetail[] = [];
  const ids = new Set<string>();
  for (const ref of def.references(spec)) {
    const target = await tx.getObject(ref.id);
    const visible =
      target !== undefined &&
      target.kind === ref.kind &&
      (def.global ? inScope(principal, target.id) : target.resourceSetId === resourceSetId);
    if (!visible) problems.push({ path: ref.path, message: `no ${ref.kind} with this id in the resource set` });
    else ids.add(target.id);
  }
  if (problems.length > 0) {
    throw new ApiError('invalid_reference', `A reference does not resolve — ${problems[0]!.path}`, problems);
  }
  return [...ids];
}
