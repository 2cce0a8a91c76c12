import { isIP } from 'node:net';
import { Type, type TObject, type TSchema } from 'typebox';
import type { ObjectKind } from '../store/types.js';
import type { ApiErrorDetail } from '../api/errors.js';
import {
  ClaimMatch,
  ProviderConfig,
  ProviderType,
  SecretsInput,
  Uuid,
  createBody,
  objectResponse,
  patchBody,
} from './common-schemas.js';
import { ADMIN_ROLES, ALL_RESOURCE_SETS } from '../auth/roles.js';
import { globProblem } from '../edge/glob.js';

/** A reference from one object to another, checked on every write. */
export interface Reference {
  /** JSON pointer of the referencing field, for error messages. */
  path: string;
  kind: ObjectKind;
  id: string;
}

/** How a provider-backed kind finds the schemas of its `type` (trust, credential, condition, log stream). */
export interface TypedSchemas {
  configSchema: TSchema;
  secretsSchema?: TSchema;
  /** Extra checks a schema cannot express; each string is one problem. */
  validate?(config: unknown): string[] | undefined;
}

export interface KindDefinition {
  kind: ObjectKind;
  /** URL segment under /api/v1. */
  plural: string;
  /** For messages and OpenAPI: "Client workload". */
  title: string;
  /** Global kinds live outside resource sets. */
  global: boolean;
  /** Body fields stored in `spec` (everything but the common fields and secrets). */
  specFields: readonly string[];
  /** Fields that cannot change after creation. */
  immutableFields: readonly string[];
  /** Whether the kind accepts write-only `secrets`. */
  hasSecrets: boolean;
  createBody: TObject;
  patchBody: TObject;
  response: TObject;
  references(spec: Record<string, unknown>): Reference[];
  /** The provider registry lookup for `type`-driven kinds. */
  typed?: 'trust-provider' | 'credential-provider' | 'access-condition' | 'log-stream';
  /** Checks beyond the JSON schema; returns problems, and may normalise the spec in place. */
  check?(spec: Record<string, unknown>): ApiErrorDetail[];
}

function define(
  def: Omit<KindDefinition, 'createBody' | 'patchBody' | 'response' | 'specFields' | 'immutableFields' | 'hasSecrets'> & {
    fields: Record<string, TSchema>;
    /** Fields that are required on create (the rest optional). */
    optionalOnCreate?: readonly string[];
    immutableFields?: readonly string[];
    responseFields?: Record<string, TSchema>;
    secrets?: boolean;
  },
): KindDefinition {
  const createFields: Record<string, TSchema> = {};
  for (const [key, schema] of Object.entries(def.fields)) {
    createFields[key] = def.optionalOnCreate?.includes(key) ? Type.Optional(schema) : schema;
  }
  // Immutable fields are accepted on patch when unchanged, so a client can send back what it read.
  const patchable: Record<string, TSchema> = { ...def.fields };
  if (!def.global) patchable.resourceSetId = Uuid;
  const secretsIn: Record<string, TSchema> = def.secrets ? { secrets: Type.Optional(SecretsInput) } : {};
  const secretsOut: Record<string, TSchema> = def.secrets
    ? { secretFields: Type.Array(Type.String(), { description: 'Names of the secret fields that are set' }) }
    : {};
  return {
    ...def,
    specFields: Object.keys(def.fields),
    immutableFields: def.immutableFields ?? [],
    hasSecrets: def.secrets ?? false,
    createBody: createBody({ ...createFields, ...secretsIn }, { global: def.global }),
    patchBody: patchBody({ ...patchable, ...secretsIn }),
    response: objectResponse({ ...def.fields, ...(def.responseFields ?? {}), ...secretsOut }, { global: def.global }),
  };
}

const HOSTNAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

const Injection = Type.Union([
  Type.Object(
    {
      kind: Type.Literal('header'),
      name: Type.String({ minLength: 1, maxLength: 128, pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" }),
      format: Type.Optional(
        // Printable ASCII, space and tab only: what every HTTP client sends as a header value unchanged,
        // so no value can split a request (CR, LF) or be refused by the SDK's client at request time.
        Type.String({
          maxLength: 256,
          pattern: '^[\\t -~]*\\{token\\}[\\t -~]*$',
          default: 'Bearer {token}',
          description: 'Printable ASCII, space and tab; must contain {token}',
        }),
      ),
    },
    { additionalProperties: false },
  ),
  Type.Object({ kind: Type.Literal('basic') }, { additionalProperties: false }),
  Type.Object(
    { kind: Type.Literal('query'), name: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._~-]+$' }) },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal('aws-sigv4'),
      region: Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9-]+$' }),
      service: Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9-]+$' }),
    },
    { additionalProperties: false },
  ),
]);

const uniqueIds = (min: number, max: number) => Type.Array(Uuid, { minItems: min, maxItems: max, uniqueItems: true });

/** Every `{claim, value}` glob of `field` within the caps the matcher is sized for. */
const checkGlobs = (spec: Record<string, unknown>, field: string): ApiErrorDetail[] =>
  ((spec[field] as Array<{ value: string }> | undefined) ?? []).flatMap(({ value }, index) => {
    const problem = globProblem(value);
    return problem === undefined ? [] : [{ path: `/${field}/${index}/value`, message: problem }];
  });

const idRefs = (spec: Record<string, unknown>, field: string, kind: ObjectKind): Reference[] =>
  ((spec[field] as string[] | undefined) ?? []).map((id, index) => ({ path: `/${field}/${index}`, kind, id }));

export const KINDS: readonly KindDefinition[] = [
  define({
    kind: 'resource-set',
    plural: 'resource-sets',
    title: 'Resource set',
    global: true,
    fields: {},
    references: () => [],
  }),
  define({
    kind: 'admin-key',
    plural: 'admin-keys',
    title: 'Admin key',
    global: true,
    fields: {
      role: Type.Union(ADMIN_ROLES.map((role) => Type.Literal(role))),
      resourceSetIds: Type.Union(
        [Type.Array(Type.Literal(ALL_RESOURCE_SETS), { minItems: 1, maxItems: 1 }), uniqueIds(1, 100)],
        { description: `Resource sets this key may act on, or ["${ALL_RESOURCE_SETS}"] for all of them` },
      ),
      expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    },
    optionalOnCreate: ['expiresAt'],
    references: (spec) => {
      const ids = spec.resourceSetIds as string[];
      return ids[0] === ALL_RESOURCE_SETS ? [] : idRefs(spec, 'resourceSetIds', 'resource-set');
    },
  }),
  define({
    kind: 'client-workload',
    plural: 'client-workloads',
    title: 'Client workload',
    global: false,
    fields: {
      identities: Type.Array(ClaimMatch, {
        minItems: 1,
        maxItems: 32,
        description: 'Every identity must match a verified claim of the caller',
      }),
    },
    references: () => [],
    check: (spec) => checkGlobs(spec, 'identities'),
  }),
  define({
    kind: 'server-workload',
    plural: 'server-workloads',
    title: 'Server workload',
    global: false,
    fields: {
      host: Type.String({ minLength: 1, maxLength: 253, description: 'Exact host, IP address, or `*.example.com`' }),
      port: Type.Integer({ minimum: 1, maximum: 65535 }),
      scheme: Type.Union([Type.Literal('https'), Type.Literal('http')]),
      pathPrefix: Type.String({ minLength: 1, maxLength: 1024, pattern: '^/[^\\s?#]*$', default: '/' }),
      injection: Injection,
    },
    optionalOnCreate: ['pathPrefix'],
    references: () => [],
    check(spec) {
      // On create and on patch alike, so reads always show what decisions use.
      const injection = spec.injection as { kind?: string; format?: string } | undefined;
      if (injection?.kind === 'header') injection.format ??= 'Bearer {token}';
      if (typeof spec.host !== 'string') return [];
      let host = spec.host.toLowerCase();
      // IPv6 in canonical form (`0:0::1` → `::1`), as the SDK derives it from request URLs.
      if (isIP(host) === 6) host = new URL(`http://[${host}]`).hostname.slice(1, -1);
      spec.host = host;
      if (!HOSTNAME.test(host) && isIP(host) === 0) {
        return [{ path: '/host', message: 'must be a host name, an IP address, or a wildcard like *.example.com' }];
      }
      return [];
    },
  }),
  define({
    kind: 'trust-provider',
    plural: 'trust-providers',
    title: 'Trust provider',
    global: false,
    typed: 'trust-provider',
    fields: {
      type: ProviderType,
      config: ProviderConfig,
      rules: Type.Array(ClaimMatch, { maxItems: 32, description: 'Verified claims must also satisfy every rule' }),
    },
    optionalOnCreate: ['rules'],
    immutableFields: ['type'],
    references: () => [],
    check: (spec) => checkGlobs(spec, 'rules'),
  }),
  define({
    kind: 'credential-provider',
    plural: 'credential-providers',
    title: 'Credential provider',
    global: false,
    typed: 'credential-provider',
    secrets: true,
    fields: { type: ProviderType, config: ProviderConfig },
    optionalOnCreate: ['config'],
    immutableFields: ['type'],
    references: () => [],
  }),
  define({
    kind: 'access-condition',
    plural: 'access-conditions',
    title: 'Access condition',
    global: false,
    typed: 'access-condition',
    fields: { type: ProviderType, config: ProviderConfig },
    immutableFields: ['type'],
    references: () => [],
  }),
  define({
    kind: 'access-policy',
    plural: 'access-policies',
    title: 'Access policy',
    global: false,
    fields: {
      clientWorkloadIds: uniqueIds(1, 256),
      serverWorkloadId: Uuid,
      trustProviderIds: { ...uniqueIds(1, 32), description: 'Any one of them must have verified the client' },
      accessConditionIds: { ...uniqueIds(0, 32), description: 'Every condition must pass' },
      credentialProviderId: Uuid,
    },
    optionalOnCreate: ['accessConditionIds'],
    references: (spec) => [
      ...idRefs(spec, 'clientWorkloadIds', 'client-workload'),
      { path: '/serverWorkloadId', kind: 'server-workload', id: spec.serverWorkloadId as string },
      ...idRefs(spec, 'trustProviderIds', 'trust-provider'),
      ...idRefs(spec, 'accessConditionIds', 'access-condition'),
      { path: '/credentialProviderId', kind: 'credential-provider', id: spec.credentialProviderId as string },
    ],
  }),
  define({
    kind: 'log-stream',
    plural: 'log-streams',
    title: 'Log stream',
    global: false,
    typed: 'log-stream',
    secrets: true,
    fields: { type: ProviderType, config: ProviderConfig },
    immutableFields: ['type'],
    references: () => [],
  }),
];

export const KIND_BY_NAME: ReadonlyMap<ObjectKind, KindDefinition> = new Map(KINDS.map((k) => [k.kind, k]));

export function kindDefinition(kind: ObjectKind): KindDefinition {
  const definition = KIND_BY_NAME.get(kind);
  if (!definition) throw new Error(`unknown object kind ${kind}`);
  return definition;
}
