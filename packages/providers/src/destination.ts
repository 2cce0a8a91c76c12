/**
 * Destination fields: the config fields that decide where a provider sends its secrets (or what
 * it exports) — a token endpoint, an issuer whose discovery names one, an STS endpoint, a region
 * that picks the default endpoint, a webhook URL. They are declared in the config schema itself,
 * with the JSON Schema annotation `"x-tessera-destination": true`, so the control plane can
 * enforce, for built-in and custom providers alike, that a write changing where a stored secret
 * goes carries the secret again: a secret is never sent to a destination that no one who knew
 * it chose.
 *
 *   configSchema: Type.Object({ tokenUrl: Type.String({ ...destination, format: 'uri' }) }, ...)
 *   configSchema: { type: 'object', properties: { tokenUrl: { type: 'string', 'x-tessera-destination': true } }, ... }
 *
 * Mark a field when changing it could send a secret, or data derived from one, somewhere else.
 * Inside an array or a record, the whole array or record counts as one destination.
 */
import { isDeepStrictEqual } from 'node:util';
import type { TSchema } from 'typebox';

export const DESTINATION_KEYWORD = 'x-tessera-destination';

/** Spread into a field's schema options to declare it a destination. */
export const destination = { [DESTINATION_KEYWORD]: true } as const;

type Schema = Record<string, unknown>;

const isSchema = (value: unknown): value is Schema => typeof value === 'object' && value !== null && !Array.isArray(value);

const pointerSegment = (name: string) => name.replaceAll('~', '~0').replaceAll('/', '~1');

/** Schemas a value at the same position must also satisfy (combinators). */
function alternatives(schema: Schema): Schema[] {
  return (['anyOf', 'oneOf', 'allOf'] as const).flatMap((key) => (Array.isArray(schema[key]) ? (schema[key] as unknown[]).filter(isSchema) : []));
}

/** Schemas of values nested below this position under names that are not fixed (items, record values). */
function containedSchemas(schema: Schema): Schema[] {
  const items = Array.isArray(schema.items) ? schema.items : [schema.items];
  const prefixItems = Array.isArray(schema.prefixItems) ? schema.prefixItems : [];
  const patterns = isSchema(schema.patternProperties) ? Object.values(schema.patternProperties) : [];
  return [...items, ...prefixItems, schema.additionalProperties, ...patterns].filter(isSchema);
}

function declaresDestination(schema: Schema): boolean {
  if (schema[DESTINATION_KEYWORD] === true) return true;
  const properties = isSchema(schema.properties) ? Object.values(schema.properties).filter(isSchema) : [];
  return [...properties, ...alternatives(schema), ...containedSchemas(schema)].some(declaresDestination);
}

function collect(schema: Schema, pointer: string, into: Set<string>): void {
  if (schema[DESTINATION_KEYWORD] === true || containedSchemas(schema).some(declaresDestination)) {
    into.add(pointer);
    return;
  }
  if (isSchema(schema.properties)) {
    for (const [name, property] of Object.entries(schema.properties)) {
      if (isSchema(property)) collect(property, `${pointer}/${pointerSegment(name)}`, into);
    }
  }
  for (const alternative of alternatives(schema)) collect(alternative, pointer, into);
}

/** JSON pointers (`/tokenEndpoint`) of the destination fields a config schema declares, sorted. */
export function destinationPaths(schema: TSchema): string[] {
  const paths = new Set<string>();
  if (isSchema(schema)) collect(schema, '', paths);
  return [...paths].sort();
}

function valueAt(value: unknown, pointer: string): unknown {
  let current = value;
  for (const raw of pointer.split('/').slice(1)) {
    if (!isSchema(current)) return undefined;
    const name = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    current = Object.hasOwn(current, name) ? current[name] : undefined;
  }
  return current;
}

/**
 * The destination fields whose value differs between two configs. A field that is added or
 * removed counts as changed (removing one falls back to a default: another destination).
 */
export function changedDestinations(schema: TSchema, before: unknown, after: unknown): string[] {
  return destinationPaths(schema).filter((pointer) => !isDeepStrictEqual(valueAt(before, pointer), valueAt(after, pointer)));
}
