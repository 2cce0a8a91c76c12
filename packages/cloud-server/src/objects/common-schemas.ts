import { Type, type TSchema } from 'typebox';
import { MAX_GLOB_WILDCARDS } from '../edge/glob.js';
import { UUID_PATTERN } from '../ids.js';

/** Field schemas shared by every admin object. Strings are bounded everywhere: no absurd lengths. */

export const Uuid = Type.String({ pattern: UUID_PATTERN, maxLength: 36, description: 'A UUID' });

/** Names key declarative config and appear in logs and URLs: a conservative identifier alphabet. */
export const Name = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
  description: 'Unique within its resource set: letters, digits, ".", "_" and "-", starting with a letter or digit',
});

/** Free text, but no control characters other than tab and newline. */
export const Description = Type.String({
  maxLength: 1024,
  pattern: '^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F]*$',
});

export const Timestamp = Type.String({ format: 'date-time' });

/** A claim name such as `kubernetes.namespace` or `github.repository`. */
export const ClaimName = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z][A-Za-z0-9_.:-]*$' });

export const ClaimMatch = Type.Object(
  {
    claim: ClaimName,
    value: Type.String({
      minLength: 1,
      maxLength: 512,
      description: `Exact value, or a glob where \`*\` matches any run of characters (at most ${MAX_GLOB_WILDCARDS} wildcards; \`**\` is one)`,
    }),
  },
  { additionalProperties: false },
);

/** A provider's free-form `config`: validated later by the schema its registry entry holds. */
export const ProviderConfig = Type.Record(Type.String({ maxLength: 128 }), Type.Unknown(), {
  description: 'Validated against the config schema of the provider type',
});

/** Write-only secret fields: a value sets the field, `null` removes it. */
export const SecretsInput = Type.Record(
  Type.String({ maxLength: 128 }),
  Type.Union([Type.String({ maxLength: 65536 }), Type.Null()]),
  { description: 'Write-only. Validated against the secrets schema of the provider type; never returned.' },
);

export const ProviderType = Type.String({ minLength: 2, maxLength: 63, pattern: '^[a-z][a-z0-9-]*$' });

/** Fields every object has, as returned. */
export function objectResponse(fields: Record<string, TSchema>, options: { global: boolean }) {
  return Type.Object(
    {
      id: Uuid,
      ...(options.global ? {} : { resourceSetId: Uuid }),
      name: Name,
      description: Type.String(),
      enabled: Type.Boolean(),
      ...fields,
      createdAt: Timestamp,
      updatedAt: Timestamp,
    },
    { additionalProperties: false },
  );
}

/** The create body: common fields plus the kind's own. */
export function createBody(fields: Record<string, TSchema>, options: { global: boolean }) {
  return Type.Object(
    {
      ...(options.global
        ? {}
        : { resourceSetId: Type.Optional({ ...Uuid, description: 'Defaults to the `default` resource set' }) }),
      name: Name,
      description: Type.Optional(Description),
      enabled: Type.Optional(Type.Boolean({ default: true })),
      ...fields,
    },
    { additionalProperties: false },
  );
}

/** The patch body: every mutable field optional. */
export function patchBody(fields: Record<string, TSchema>) {
  const optional: Record<string, TSchema> = {};
  for (const [key, schema] of Object.entries(fields)) optional[key] = Type.Optional(schema);
  return Type.Object(
    { name: Type.Optional(Name), description: Type.Optional(Description), enabled: Type.Optional(Type.Boolean()), ...optional },
    { additionalProperties: false, minProperties: 1 },
  );
}
