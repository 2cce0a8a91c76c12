#!/usr/bin/env node
/**
 * Generates the admin API reference from the control plane's own OpenAPI document:
 *
 *   docs/openapi.json   the document as GET /openapi.json serves it (pretty-printed)
 *   docs/admin-api.md   the reference page rendered from it
 *
 * The app is started exactly as `tessera-cloud start` starts it, on a throwaway embedded store
 * in a temporary directory and a free loopback port; nothing outside that directory is touched.
 * The role table comes from src/auth/roles.ts and the error table from src/api/errors.ts.
 *
 *   node packages/cloud-server/scripts/generate-api-docs.mjs           write both files
 *   node packages/cloud-server/scripts/generate-api-docs.mjs --check   exit 1 if they are stale
 *
 * Build first (`npm run docs:api` does both). Output is deterministic: no dates, no ids.
 */
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isDeepStrictEqual, parseArgs } from 'node:util';

const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const REPO_DIR = resolve(PACKAGE_DIR, '../..');
const DOCS_DIR = join(REPO_DIR, 'docs');
const MARKDOWN_PATH = join(DOCS_DIR, 'admin-api.md');
const OPENAPI_PATH = join(DOCS_DIR, 'openapi.json');
const ROLES_SOURCE = join(PACKAGE_DIR, 'src/auth/roles.ts');
const ERRORS_SOURCE = join(PACKAGE_DIR, 'src/api/errors.ts');

const UUID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

/** Patterns better said in words than shown as a regular expression. */
const PATTERN_WORDS = new Map([
  ['^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F]*$', 'no control characters other than tab and newline'],
  ['\\{token\\}', 'must contain `{token}`'],
]);

/** Fields a PATCH accepts only with their current value (see `immutableFields` in src/objects/kinds.ts). */
const IMMUTABLE_ON_PATCH = ['type', 'resourceSetId'];

/** What each error code means to a caller. Every code in src/api/errors.ts needs an entry. */
const ERROR_MEANINGS = {
  invalid_request: 'The request line, URL or headers could not be parsed.',
  headers_too_large: 'The request headers are too large.',
  request_timeout:
    'The request (headers within `--headers-timeout-ms`, the whole request within `--request-timeout-ms`) did not arrive in time; the connection is closed.',
  invalid_json: 'The body is not valid JSON, or is empty while `content-type: application/json` was sent.',
  json_too_deep: 'The body nests arrays and objects more than 64 levels deep.',
  unsupported_media_type: 'The body is not `application/json`.',
  payload_too_large: 'The body is larger than 1 MiB.',
  validation_failed:
    'A field is missing, unknown, of the wrong type or outside its constraints; this includes a provider `config` or `secrets` that the schema of its `type` refuses. `details[].path` points at each field.',
  invalid_reference: 'A referenced id does not name an object of the expected kind in the same resource set.',
  immutable_field: 'A PATCH tried to change a field that is fixed at creation (`type`, `resourceSetId`).',
  invalid_id: 'The id in the path is not a UUID.',
  invalid_cursor: 'The `cursor` query parameter is not a `nextCursor` this API handed out.',
  unauthorized: 'No admin key, a malformed `Authorization` header, or a key that is unknown, disabled or expired.',
  forbidden: 'The role of the key may not do this, or the key may not write to that resource set.',
  secret_delivery_forbidden:
    'A `policy-editor` key tried a write that would change who receives a credential provider\'s stored secret, or where the SDK sends it (see [the security model](security.md#admin-roles)). Nothing was changed; an `editor` or `admin` key may make the change.',
  not_found: 'No such object, or the object lies outside the resource sets of the key; also an unknown route.',
  method_not_allowed: 'The route does not accept this HTTP method.',
  name_taken: 'An object of this kind with this name already exists in the resource set (for an admin key: a key of the same resource sets has this name).',
  still_referenced: 'The object is still referenced by other objects; `details` names up to 20 of them (`id`, `kind`).',
  conflict: 'The request conflicts with the current state of the object.',
  last_admin_key: 'The change would leave no enabled, unexpired `admin` key with access to all resource sets.',
  secrets_required_for_destination_change:
    'A PATCH changes where the object\'s stored secrets are sent (a field its type declares a destination, such as `tokenEndpoint` or a webhook `url`) without sending every stored secret again (a value, or `null` to remove it). `details` names the changed fields and the missing secrets; nothing was changed.',
  unavailable: 'The database cannot be reached right now; retry later.',
  internal_error: 'An unexpected failure. The details go to the server log, never into the response.',
};

/** Short introductions of each tag of the OpenAPI document. */
const TAG_INTROS = {
  'Resource set':
    'A resource set is a partition of the control plane, like a tenant. Every other object except admin keys lives in exactly one resource set; the first start creates one named `default`.',
  'Admin key':
    'Admin keys authenticate calls to this API. The key itself is shown once, in the answer to its creation; the store keeps only its SHA-256 hash.',
  'Client workload':
    'A client workload is a caller: a service, job or function. It matches a workload when every one of its `identities` matches a claim that a trust provider verified.',
  'Server workload':
    'A server workload is a target that callers reach: a host, port, scheme and path prefix, and how the credential is put into the request (`injection`).',
  'Trust provider':
    'A trust provider verifies the evidence a workload presents (a Kubernetes service-account token, a GitHub Actions OIDC token, ...). Its `config` is checked against the schema of its `type`.',
  'Credential provider':
    'A credential provider issues the credential injected into requests to a server workload. Its `secrets` are write-only: they are encrypted at rest and never returned; reads list the names of the secret fields that are set in `secretFields`.',
  'Access condition':
    'An access condition is an extra check that must pass before a credential is issued (a time window, a source IP range, ...).',
  'Access policy':
    'An access policy links client workloads to a server workload: which trust providers may have verified the caller (any one is enough), which access conditions must all pass, and which credential provider issues the credential.',
  'Log stream': 'A log stream exports audit events, for example to a JSON-lines file or a webhook. Its `secrets` are write-only.',
  'Audit event':
    'Every create, update and delete of an object through this API is recorded as an audit event of kind `admin.change`, in the same transaction as the change. The event of an access policy, and of a server workload whose `host`, `port`, `scheme`, `pathPrefix` or `injection` changed, names the credential providers concerned in `data.credentialProviders` (`[{"id", "name"}]`). Events cannot be changed or deleted through the API.',
  'Request metric':
    'What the SDKs report about the requests they handled, added up per minute: for each client workload, server workload (or, for requests that matched none, target origin), outcome, status class and reason, the number of requests and a latency histogram. Reports are not audit events: every decision (`POST /edge/v1/credentials`) is an `edge.credential` audit event of its own. See [request metrics](edge-api.md#request-metrics).',
  'Signing key':
    'The ES256 keys that sign the tokens this control plane issues. Only public metadata is exposed; the private halves never leave the store.',
  Health: 'Probes for load balancers and orchestrators. They need no admin key.',
  OIDC: 'The OpenID Provider documents of this control plane, for anyone who verifies the tokens it signs. They need no admin key.',
};

/**
 * What the OpenAPI document does not say about a few operations. Keyed by "METHOD path"; the
 * generator fails if a key matches no operation, so a note cannot outlive its route.
 */
const OPERATION_NOTES = {
  'GET /healthz': 'Answers `200` with `{"status":"ok"}` while the process runs.',
  'GET /readyz':
    'Answers `200` with `{"status":"ready"}` when the database answers. Answers `503` with `{"status":"store_unavailable"}` when it does not, and `503` with `{"status":"shutting_down"}` once the server has begun to shut down.',
  'GET /.well-known/openid-configuration': 'Sent with `cache-control: public, max-age=300`.',
  'GET /.well-known/jwks.json':
    'Sent with `cache-control: public, max-age=60`. Holds the active key and every retired key whose tokens may still be valid.',
  'POST /api/v1/signing-keys/rotate':
    'Needs an `admin` key with access to all resource sets (`["*"]`). Send no request body. Other replicas switch to the new key within 30 seconds.',
  'GET /api/v1/signing-keys': 'Needs an `admin` key with access to all resource sets (`["*"]`).',
  'GET /api/v1/audit-events':
    'Needs the `admin` or `auditor` role. Events outside the resource sets of the key are left out. Events about objects without a resource set (admin keys, resource sets) are visible only to keys with access to all resource sets.',
  'GET /api/v1/request-metrics':
    'Needs the `admin` or `auditor` role, like audit events; rows outside the resource sets of the key are left out. Rows are newest first, then ordered by their key. `since` and `until` select whole minutes; with `groupBy=hour` the minutes of each hour are added up (give `since` and `until`: the sums are computed for each page). A latency bucket counts the requests that took at most its bound in `latencyBucketBoundsMs` and more than the bound before it; the last bucket has no bound.',
  'POST /api/v1/admin-keys':
    'The answer holds the key itself in `key`, once. A key may only grant resource sets it holds itself.',
};

async function main() {
  const { values } = parseArgs({ options: { check: { type: 'boolean', default: false } }, strict: true });
  const openapi = await fetchOpenApiDocument();
  const roles = await readRoleTable();
  const errors = await readErrorTable();
  const files = new Map([
    [OPENAPI_PATH, `${JSON.stringify(openapi, null, 2)}\n`],
    [MARKDOWN_PATH, renderMarkdown(openapi, roles, errors)],
  ]);

  if (values.check) {
    const stale = [];
    for (const [path, content] of files) {
      const current = await readFile(path, 'utf8').catch(() => undefined);
      if (current !== content) stale.push(relative(REPO_DIR, path));
    }
    if (stale.length > 0) {
      process.stderr.write(`Out of date: ${stale.join(', ')}. Run \`npm run docs:api\` and commit the result.\n`);
      process.exitCode = 1;
      return;
    }
    process.stdout.write('API docs are up to date.\n');
    return;
  }
  await mkdir(DOCS_DIR, { recursive: true });
  for (const [path, content] of files) {
    await writeFile(path, content);
    process.stdout.write(`wrote ${relative(REPO_DIR, path)}\n`);
  }
}

// ---------------------------------------------------------------------------------------------
// Inputs

/** Starts the built server as the CLI does, on a throwaway store, and reads GET /openapi.json. */
async function fetchOpenApiDocument() {
  let server;
  try {
    server = await import(pathToFileURL(join(PACKAGE_DIR, 'dist/index.js')).href);
  } catch (error) {
    throw new Error(`cannot load packages/cloud-server/dist/index.js (build first: npm run build): ${error.message}`);
  }
  const { startServer, resolveServerConfig } = server;
  const dataDir = await mkdtemp(join(tmpdir(), 'tessera-api-docs-'));
  try {
    // An empty environment: no TESSERA_* variable of the caller reaches the throwaway server.
    const env = {};
    const config = resolveServerConfig({ port: '0', data: dataDir, 'log-level': 'silent' }, env);
    const running = await startServer({ config, env });
    try {
      const response = await fetch(`${running.listeningUrl ?? running.url}/openapi.json`);
      if (!response.ok) throw new Error(`GET /openapi.json answered ${response.status}`);
      return await response.json();
    } finally {
      await running.close();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** The Markdown table in the doc comment of src/auth/roles.ts, checked against ADMIN_ROLES. */
async function readRoleTable() {
  const source = await readFile(ROLES_SOURCE, 'utf8');
  const rows = source
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('* |'))
    .map((line) =>
      line
        .slice(1)
        .trim()
        .replace(/^\||\|$/g, '')
        .split('|')
        .map((cell) => cell.trim()),
    );
  if (rows.length < 3) throw new Error(`no role table found in the doc comment of ${relative(REPO_DIR, ROLES_SOURCE)}`);
  const [header, , ...body] = rows;
  const declared = /ADMIN_ROLES\s*=\s*\[([^\]]*)\]/.exec(source)?.[1];
  const roles = declared ? [...declared.matchAll(/'([^']+)'/g)].map((m) => m[1]) : [];
  const tabled = body.map((row) => row[0]);
  if (!isDeepStrictEqual([...roles].sort(), [...tabled].sort())) {
    throw new Error(`the role table in roles.ts lists ${tabled.join(', ')} but ADMIN_ROLES is ${roles.join(', ')}`);
  }
  return { header, body };
}

/** Every code of the STATUS table in src/api/errors.ts, with its HTTP status. */
async function readErrorTable() {
  const source = await readFile(ERRORS_SOURCE, 'utf8');
  const block = /const STATUS[^=]*=\s*\{([^}]*)\}/.exec(source)?.[1];
  if (!block) throw new Error(`no STATUS table found in ${relative(REPO_DIR, ERRORS_SOURCE)}`);
  const entries = [...block.matchAll(/([a-z_]+)\s*:\s*(\d{3})/g)].map((m) => ({ code: m[1], status: Number(m[2]) }));
  const missing = entries.filter((entry) => !(entry.code in ERROR_MEANINGS)).map((entry) => entry.code);
  const extra = Object.keys(ERROR_MEANINGS).filter((code) => !entries.some((entry) => entry.code === code));
  if (missing.length > 0 || extra.length > 0) {
    throw new Error(
      `ERROR_MEANINGS in ${relative(REPO_DIR, fileURLToPath(import.meta.url))} is out of step with errors.ts` +
        (missing.length ? `; add: ${missing.join(', ')}` : '') +
        (extra.length ? `; remove: ${extra.join(', ')}` : ''),
    );
  }
  return entries;
}

// ---------------------------------------------------------------------------------------------
// Markdown helpers

/** Inline code that survives backticks in the text. */
function code(text) {
  const value = String(text);
  const longest = Math.max(0, ...(value.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = value.startsWith('`') || value.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${value}${pad}${fence}`;
}

/** A table cell: no line breaks, pipes escaped (GitHub unescapes them inside code spans too). */
function cell(text) {
  return String(text ?? '').replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
}

function table(headers, rows) {
  const lines = [`| ${headers.join(' | ')} |`, `| ${headers.map(() => '---').join(' | ')} |`];
  for (const row of rows) lines.push(`| ${row.map(cell).join(' | ')} |`);
  return lines.join('\n');
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function anchor(heading) {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .trim()
    .replace(/\s/g, '-');
}

function article(word) {
  return /^[aeiou]/i.test(word) ? 'an' : 'a';
}

function capitalize(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function sentence(text) {
  const trimmed = String(text).trim();
  return /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

// ---------------------------------------------------------------------------------------------
// Schemas in words

function createResolver(openapi) {
  return function deref(schema) {
    let current = schema;
    for (let hops = 0; current && typeof current.$ref === 'string'; hops += 1) {
      if (hops > 20) throw new Error(`circular $ref ${schema.$ref}`);
      const match = /^#\/components\/schemas\/(.+)$/.exec(current.$ref);
      if (!match) throw new Error(`unsupported $ref ${current.$ref}`);
      current = openapi.components?.schemas?.[match[1]];
      if (!current) throw new Error(`dangling $ref ${schema.$ref}`);
    }
    return current;
  };
}

/** The literal a schema allows, when it allows exactly one value. */
function literalOf(schema) {
  if (!schema) return undefined;
  if ('const' in schema) return { value: schema.const };
  if (Array.isArray(schema.enum) && schema.enum.length === 1) return { value: schema.enum[0] };
  return undefined;
}

function variantsOf(schema) {
  return schema?.anyOf ?? schema?.oneOf;
}

function isNullSchema(schema) {
  return schema?.type === 'null';
}

/** Every member is a literal: an enumeration. */
function enumValues(schema) {
  if (Array.isArray(schema.enum) && schema.enum.length > 1) return schema.enum;
  const variants = variantsOf(schema);
  if (!variants || variants.length === 0) return undefined;
  const literals = variants.map(literalOf);
  return literals.every(Boolean) ? literals.map((literal) => literal.value) : undefined;
}

function isObjectSchema(schema) {
  return schema?.type === 'object' && schema.properties !== undefined;
}

/** A union of object schemas, and the property that tells them apart (a literal in each). */
function objectUnion(schema) {
  const variants = variantsOf(schema)?.filter((variant) => !isNullSchema(variant));
  if (!variants || variants.length < 2 || !variants.every(isObjectSchema)) return undefined;
  const candidates = Object.keys(variants[0].properties).filter((name) =>
    variants.every((variant) => literalOf(variant.properties[name]) && variant.required?.includes(name)),
  );
  return { variants, discriminator: candidates[0] };
}

function literalText(value) {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** A short type, e.g. "string (UUID)", "array of objects", "integer or null". */
function typeText(schema, deref) {
  const s = deref(schema ?? {});
  if (literalOf(s)) return `${code(JSON.stringify(literalOf(s).value))}`;
  if (enumValues(s)) return 'string';
  const variants = variantsOf(s);
  if (variants) {
    const union = objectUnion(s);
    if (union) {
      const nullable = variants.some(isNullSchema) ? ' or null' : '';
      return `object, one of ${union.variants.length} variants${nullable}`;
    }
    return variants.map((variant) => typeText(variant, deref)).join(' or ');
  }
  if (Array.isArray(s.items)) return code(JSON.stringify(s.items.map((item) => literalOf(item)?.value ?? '…')));
  switch (s.type) {
    case 'string':
      if (s.pattern === UUID_PATTERN || s.format === 'uuid') return 'string (UUID)';
      return s.format ? `string (${s.format})` : 'string';
    case 'array': {
      const items = deref(s.items ?? {});
      if (isObjectSchema(items)) return 'array of objects';
      if (enumValues(items)) return 'array of strings';
      const itemType = typeText(items, deref);
      return itemType === 'string (UUID)' ? 'array of UUIDs' : `array of ${pluralType(itemType)}`;
    }
    case 'object':
      if (s.properties) return 'object';
      if (s.additionalProperties && typeof s.additionalProperties === 'object' && Object.keys(s.additionalProperties).length > 0) {
        return `object (map of name → ${typeText(s.additionalProperties, deref)})`;
      }
      return 'object';
    case undefined:
      return 'any';
    default:
      return Array.isArray(s.type) ? s.type.join(' or ') : s.type;
  }
}

function pluralType(text) {
  return text.replace(/^(string|integer|number|boolean|object)\b/, '$1s');
}

function range(min, max, unit) {
  if (min !== undefined && max !== undefined) return min === max ? `exactly ${min}${unit}` : `${min}–${max}${unit}`;
  if (min !== undefined) return `at least ${min}${unit}`;
  if (max !== undefined) return `at most ${max}${unit}`;
  return undefined;
}

/** Constraints in words: lengths, ranges, patterns, enumerations, defaults. */
function constraintsText(schema, deref, { defaults = true } = {}) {
  const s = deref(schema ?? {});
  const parts = [];
  const values = enumValues(s);
  if (values) parts.push(`one of ${values.map((value) => code(literalText(value))).join(', ')}`);
  const variants = variantsOf(s);
  if (variants && !values && !objectUnion(s)) {
    // "string or null" needs no "string:" in front of the string's constraints.
    const described = variants.filter((variant) => !isNullSchema(deref(variant)));
    for (const variant of described) {
      const text = constraintsText(variant, deref, { defaults });
      if (text) parts.push(described.length > 1 ? `${typeText(variant, deref)}: ${text}` : text);
    }
  }
  if (s.type === 'string' || s.minLength !== undefined || s.maxLength !== undefined) {
    const uuid = s.pattern === UUID_PATTERN || s.format === 'uuid';
    const length = uuid ? undefined : range(s.minLength, s.maxLength, ' characters');
    if (length) parts.push(length);
    if (s.pattern && !uuid) parts.push(PATTERN_WORDS.get(s.pattern) ?? `pattern ${code(s.pattern)}`);
  }
  const numbers = range(s.minimum, s.maximum, '');
  if (numbers) parts.push(numbers);
  if (s.exclusiveMinimum !== undefined) parts.push(`greater than ${s.exclusiveMinimum}`);
  if (s.exclusiveMaximum !== undefined) parts.push(`less than ${s.exclusiveMaximum}`);
  if (s.type === 'array' && !Array.isArray(s.items)) {
    const items = range(s.minItems, s.maxItems, ' items');
    if (items) parts.push(items);
    if (s.uniqueItems) parts.push('no duplicates');
    const itemConstraints = isObjectSchema(deref(s.items ?? {})) ? '' : constraintsText(s.items, deref, { defaults });
    if (itemConstraints) parts.push(`each: ${itemConstraints}`);
  }
  if (s.type === 'object' && !s.properties && s.additionalProperties && typeof s.additionalProperties === 'object') {
    const valueConstraints = constraintsText(s.additionalProperties, deref, { defaults });
    if (valueConstraints) parts.push(`each value: ${valueConstraints}`);
  }
  if (s.minProperties !== undefined) parts.push(`at least ${s.minProperties} field${s.minProperties === 1 ? '' : 's'}`);
  if (defaults && 'default' in s) parts.push(`default ${code(JSON.stringify(s.default))}`);
  return parts.join('; ');
}

/** The schema's description, unless it only repeats the type ("A UUID"). */
function describe(schema, deref) {
  const s = deref(schema ?? {});
  return s.description === 'A UUID' ? '' : (s.description ?? '');
}

/**
 * The fields of an object schema, one entry each: nested objects and arrays of objects as
 * dotted names (`identities[].claim`); a union of objects is one entry, and its variants are
 * collected in `unions` to get their own table.
 */
function fields(schema, deref, { prefix = '', unions = [], defaults = true } = {}) {
  const s = deref(schema);
  const entries = [];
  const required = new Set(s.required ?? []);
  for (const [name, property] of Object.entries(s.properties ?? {})) {
    const p = deref(property);
    const path = `${prefix}${name}`;
    const union = objectUnion(p);
    // On PATCH a top-level field left out keeps its value; inside a sent object, defaults apply.
    const constraints = constraintsText(p, deref, { defaults: defaults || prefix !== '' });
    const description = describe(p, deref);
    const entry = {
      path,
      nested: prefix !== '',
      type: typeText(p, deref),
      required: required.has(name),
      constraints,
      values: enumValues(p),
      // A description that only repeats a constraint ("Must contain {token}") is left out.
      description: constraints.toLowerCase().replace(/`/g, '').includes(description.toLowerCase()) ? '' : description,
    };
    if (union) {
      entry.description = [entry.description, `See [${code(path)} variants](#${anchor(`${path} variants`)}).`].filter(Boolean).join(' ');
      unions.push({ path, union });
    }
    entries.push(entry);
    if (isObjectSchema(p)) {
      entries.push(...fields(p, deref, { prefix: `${path}.`, unions, defaults }));
    } else if (p.type === 'array' && isObjectSchema(deref(p.items ?? {}))) {
      entries.push(...fields(p.items, deref, { prefix: `${path}[].`, unions, defaults }));
    }
  }
  return entries;
}

/**
 * Request tables: field, type, required, constraints, description. Response tables: field,
 * type, description (with the allowed values, and whether the field may be absent).
 */
function columns(kind) {
  return kind === 'request' ? ['field', 'type', 'required', 'constraints', 'description'] : ['field', 'type', 'description'];
}

function row(entry, kind) {
  if (kind === 'request') return [code(entry.path), entry.type, entry.required ? 'yes' : 'no', entry.constraints, entry.description];
  const notes = [];
  if (!entry.required && !entry.nested) notes.push('Absent when not set.');
  if (entry.values) notes.push(`One of ${entry.values.map((value) => code(literalText(value))).join(', ')}.`);
  if (entry.description) notes.push(sentence(entry.description));
  return [code(entry.path), entry.type, notes.join(' ')];
}

function unionTables(unions, deref, kind, seen) {
  const blocks = [];
  for (const { path, union } of unions) {
    const heading = `${path} variants`;
    const title = seen.has(heading) ? `**${code(path)} variants**` : `#### ${code(path)} variants`;
    seen.add(heading);
    const key = union.discriminator;
    const intro = key
      ? `${code(path)} is one of these objects, told apart by ${code(key)}.` +
        (kind === 'request' ? ' A field not listed for a variant is refused.' : '')
      : `${code(path)} is one of these objects.`;
    const headers = [key ? code(key) : 'variant', ...columns(kind)];
    const rows = [];
    union.variants.forEach((variant, index) => {
      const label = key ? code(literalText(literalOf(variant.properties[key]).value)) : String(index + 1);
      const nested = [];
      const entries = fields({ ...variant, properties: omit(variant.properties, key) }, deref, { unions: nested });
      if (nested.length > 0) throw new Error(`a union inside ${path} is more than this renderer handles`);
      if (entries.length === 0) {
        const empty = columns(kind).map(() => '');
        empty[0] = '—';
        empty[empty.length - 1] = 'No other fields.';
        rows.push([label, ...empty]);
      }
      entries.forEach((entry, i) => rows.push([i === 0 ? label : '', ...row(entry, kind)]));
    });
    blocks.push([title, intro, table(headers, rows)].join('\n\n'));
  }
  return blocks;
}

function omit(object, key) {
  if (key === undefined) return object;
  const { [key]: _dropped, ...rest } = object;
  return rest;
}

/**
 * A field table plus the tables of its unions. `kind` is 'request' or 'response'; `defaults`
 * is false for PATCH bodies, where a top-level field left out keeps its value.
 */
function objectTables(schema, deref, { kind, seen, defaults = true }) {
  const unions = [];
  const entries = fields(schema, deref, { unions, defaults });
  return [table(columns(kind), entries.map((entry) => row(entry, kind))), ...unionTables(unions, deref, kind, seen)].join('\n\n');
}

// ---------------------------------------------------------------------------------------------
// The page

const METHOD_ORDER = ['get', 'post', 'put', 'patch', 'delete'];

/** The edge API is the SDK's protocol (edge tokens, DPoP), not an operator's: left to openapi.json. */
const EDGE_PREFIX = '/edge/';

function operationsByTag(openapi) {
  const tags = new Map();
  for (const [path, item] of Object.entries(openapi.paths ?? {})) {
    if (path.startsWith(EDGE_PREFIX)) continue;
    for (const method of METHOD_ORDER) {
      const operation = item[method];
      if (!operation || operation['x-hidden']) continue;
      const tag = operation.tags?.[0] ?? 'Other';
      if (!tags.has(tag)) tags.set(tag, []);
      tags.get(tag).push({ path, method, operation });
    }
  }
  return tags;
}

function jsonSchemaOf(body) {
  return body?.content?.['application/json']?.schema;
}

function successResponse(operation) {
  const entries = Object.entries(operation.responses ?? {}).filter(([status]) => /^2\d\d$/.test(status));
  if (entries.length === 0) return undefined;
  const [status, response] = entries[0];
  return { status, schema: jsonSchemaOf(response) };
}

/** The object a tag is about: the answer of GET /{id}, or else the items of its list. */
function tagObjectSchema(operations, deref) {
  const read = operations.find((op) => op.method === 'get' && /\{id\}$/.test(op.path));
  if (read) return successResponse(read.operation)?.schema;
  const list = operations.find((op) => op.method === 'get' && !op.path.includes('{'));
  const listSchema = list && deref(successResponse(list.operation)?.schema ?? {});
  const items = listSchema?.properties?.items;
  return items?.type === 'array' ? items.items : undefined;
}

const STATUS_TEXT = {
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  431: 'Request Header Fields Too Large',
};

function statusText(status) {
  return STATUS_TEXT[status] ? `${status} ${STATUS_TEXT[status]}` : String(status);
}

function isAuthenticated(path) {
  // The admin key check is a hook of the /api/v1 plugin (src/app.ts); every other route is public.
  return path.startsWith('/api/');
}

function renderOperation({ path, method, operation }, context) {
  const { deref, objectSchema, title, seen } = context;
  const key = `${method.toUpperCase()} ${path}`;
  const lines = [`### ${operation.summary ?? key}`, '', `\`${key}\``];
  if (operation.description) lines.push('', sentence(operation.description));
  if (OPERATION_NOTES[key]) lines.push('', OPERATION_NOTES[key]);
  context.usedNotes.add(key);

  const parameters = operation.parameters ?? [];
  const pathParams = parameters.filter((p) => p.in === 'path');
  if (pathParams.length > 0) {
    lines.push('', 'Path parameters:', '');
    lines.push(
      table(
        ['name', 'type', 'description'],
        pathParams.map((p) => [code(p.name), typeText(p.schema, deref), p.description ?? (p.name === 'id' ? `The id of the ${title.toLowerCase()}` : '')]),
      ),
    );
  }
  const query = parameters.filter((p) => p.in === 'query');
  if (query.length > 0) {
    lines.push('', 'Query parameters (all optional; unknown parameters are refused):', '');
    lines.push(
      table(
        ['name', 'type', 'constraints', 'description'],
        query.map((p) => [code(p.name), typeText(p.schema, deref), constraintsText(p.schema, deref), p.description === 'A UUID' ? '' : (p.description ?? describe(p.schema, deref))]),
      ),
    );
  }

  const body = jsonSchemaOf(operation.requestBody);
  if (body) {
    const b = deref(body);
    const patch = method === 'patch';
    lines.push(
      '',
      patch
        ? 'Request body (JSON; send only the fields to change, at least one; unknown fields are refused):'
        : 'Request body (JSON; unknown fields are refused):',
      '',
    );
    lines.push(objectTables(b, deref, { kind: 'request', seen, defaults: !patch }));
    if (patch) {
      const fixed = IMMUTABLE_ON_PATCH.filter((field) => b.properties?.[field]);
      if (fixed.length > 0) {
        lines.push(
          '',
          `${fixed.map(code).join(' and ')} cannot change after creation: a PATCH may send ${fixed.length > 1 ? 'them' : 'it'} only with the current value (error \`immutable_field\` otherwise).`,
        );
      }
      if (b.properties?.secrets) {
        lines.push('', '`secrets` is merged into the stored secrets: a string sets that field, `null` removes it, fields not sent stay as they are.');
      }
    }
  }

  const success = successResponse(operation);
  if (success) {
    const extra = responseExtras(success.schema);
    const said = describeResponse(success.schema);
    lines.push('', `Response: ${code(statusText(success.status))}${said === ':' && !extra ? '.' : said}`);
    if (extra) lines.push('', extra);
  }
  const errors = Object.keys(operation.responses ?? {}).filter((status) => /^[45]\d\d$/.test(status));
  if (errors.length > 0) {
    lines.push('', `Errors: ${errors.map(code).join(', ')}, as [error objects](#errors).`);
  }
  return lines.join('\n');

  function describeResponse(schema) {
    if (!schema) return success.status === '204' ? ', no body.' : '.';
    const s = deref(schema);
    if (objectSchema && isDeepStrictEqual(s, deref(objectSchema))) return `, the ${title.toLowerCase()}.`;
    if (objectSchema && extendsObject(s, deref(objectSchema))) {
      return `, the ${title.toLowerCase()} with these extra fields:`;
    }
    const items = s.properties?.items;
    if (items?.type === 'array' && objectSchema && isDeepStrictEqual(deref(items.items), deref(objectSchema))) {
      return s.properties.nextCursor
        ? `, one page: ${code('{"items": [...], "nextCursor": ...}')} with [${title.toLowerCase()} objects](#${anchor(`${title} fields`)}).`
        : `, ${code('{"items": [...]}')} with [${title.toLowerCase()} objects](#${anchor(`${title} fields`)}).`;
    }
    return ':';
  }

  function responseExtras(schema) {
    if (!schema) return undefined;
    const s = deref(schema);
    if (objectSchema && isDeepStrictEqual(s, deref(objectSchema))) return undefined;
    if (objectSchema && extendsObject(s, deref(objectSchema))) {
      const extraNames = Object.keys(s.properties).filter((name) => !(name in deref(objectSchema).properties));
      const extraSchema = { type: 'object', required: s.required?.filter((n) => extraNames.includes(n)), properties: pick(s.properties, extraNames) };
      return objectTables(extraSchema, deref, { kind: 'response', seen });
    }
    const items = s.properties?.items;
    if (items?.type === 'array' && objectSchema && isDeepStrictEqual(deref(items.items), deref(objectSchema))) return undefined;
    if (isObjectSchema(s)) return objectTables(s, deref, { kind: 'response', seen });
    return undefined;
  }
}

function pick(object, names) {
  return Object.fromEntries(names.map((name) => [name, object[name]]));
}

/** `schema` has every field of `base`, unchanged, and more. */
function extendsObject(schema, base) {
  if (!isObjectSchema(schema) || !isObjectSchema(base)) return false;
  const names = Object.keys(base.properties);
  const extra = Object.keys(schema.properties).filter((name) => !names.includes(name));
  return (
    extra.length > 0 &&
    names.every((name) => isDeepStrictEqual(schema.properties[name], base.properties[name])) &&
    isDeepStrictEqual(new Set(base.required ?? []), new Set((schema.required ?? []).filter((name) => names.includes(name))))
  );
}

function renderIntro(openapi, roles, errors) {
  const roleTable = table(
    roles.header,
    roles.body.map((cells) => [code(cells[0]), ...cells.slice(1)]),
  );
  const errorTable = table(
    ['code', 'HTTP status', 'meaning'],
    errors.map((entry) => [code(entry.code), String(entry.status), ERROR_MEANINGS[entry.code]]),
  );
  return `# Admin API reference

<!-- Generated from the OpenAPI document of the control plane by packages/cloud-server/scripts/generate-api-docs.mjs. Do not edit: change the code, then run \`npm run docs:api\`. -->

The admin API manages the objects of a Tessera control plane: resource sets, admin keys,
workloads, providers, conditions, policies and log streams. It also lists audit events and
rotates the token-signing key. Every admin route lives under \`/api/v1\` and speaks JSON.

The same API is described in machine-readable form by the OpenAPI ${openapi.openapi} document that
every server serves at \`GET /openapi.json\` (no key needed). A copy is in
[openapi.json](openapi.json).

## Authentication

Send an admin key as a bearer token on every \`/api/v1\` request:

\`\`\`http
Authorization: Bearer tsk_…
\`\`\`

The first start of a control plane prints a bootstrap admin key once (see
[Operations](operations.md#the-bootstrap-admin-key)). Create more keys with
\`POST /api/v1/admin-keys\`.

A request without a key, or with a key that is malformed, unknown, disabled or expired, gets
\`401\` with the code \`unauthorized\` and a \`www-authenticate: Bearer\` header. Every refused
key gets the same answer, so the answer does not reveal which keys exist.

The health probes (\`/healthz\`, \`/readyz\`), the OIDC documents (\`/.well-known/*\`) and
\`/openapi.json\` need no key.

## Roles and scope

Every admin key has a \`role\` and a list of resource sets, \`resourceSetIds\`. A key with
\`["*"]\` acts on every resource set; any other key acts only on the sets it lists.

${roleTable}

"In scope" means the object lives in one of the key's resource sets, or the key holds \`["*"]\`.

- Every role may read the resource sets in its scope. Only an \`admin\` key with \`["*"]\` may
  create, change or delete resource sets, and list or rotate signing keys.
- An object outside the key's scope answers \`404 not_found\`, exactly like an object that does
  not exist. A role that may not use a kind at all gets \`403 forbidden\`.
- A \`policy-editor\` key writes client and server workloads, access conditions and access
  policies, but no trust provider, credential provider or log stream, and none of its writes may
  change who receives a credential provider's stored secret or where it is sent
  (\`403 secret_delivery_forbidden\`). [The security model](security.md#admin-roles) lists
  exactly which writes that refuses.
- A key can only create or change admin keys within its own scope: an \`admin\` key limited to
  some resource sets cannot create a key with \`["*"]\` or with other sets.
- The last enabled, unexpired \`admin\` key with \`["*"]\` cannot be deleted, disabled, expired,
  given another role or limited to some resource sets (\`409 last_admin_key\`).

## Errors

Every error answer has the same JSON shape:

\`\`\`json
{
  "code": "validation_failed",
  "message": "Invalid request — /body/bogus: unknown field",
  "details": [{ "message": "unknown field", "path": "/body/bogus" }]
}
\`\`\`

- \`code\` is stable and meant for programs. Branch on it, not on \`message\`.
- \`message\` is for people. It never holds a secret, a key or a stack trace.
- \`details\` is present only when there is something to add: one entry per problem field, with a
  JSON pointer in \`path\` (\`/body/...\`, \`/querystring/...\`, or the field of the object, such as
  \`/config/audience\` or \`/secrets/apiKey\`), or the referring objects for \`still_referenced\`.

${errorTable}

Any route can also answer \`500 internal_error\`, and \`503 unavailable\` while the database
cannot be reached, even where the operation below does not list them.

## Lists and pagination

List routes return one page at a time, in a stable order:

\`\`\`json
{ "items": [ ... ], "nextCursor": "MDFhMjA4ZmEtODNiNS03MzFkLTk0ZjEtZGYwYTg0MGZiZDdm" }
\`\`\`

- \`limit\` sets the page size: 1 to 500, default 50. Values above 500 are treated as 500.
- When \`nextCursor\` is a string, more items follow: send it back as \`cursor\` to get the next
  page, with the same filters. When it is \`null\`, this was the last page.
- A cursor is opaque. A made-up or damaged cursor gets \`400 invalid_cursor\`.
- Object lists are in creation order (ids are time-ordered UUIDs). Audit events and request metrics are newest first.
- Lists include only objects in the key's scope. \`resourceSetId\` narrows a list to one
  resource set; \`name\` finds an object by its exact name.

## Creating and changing objects

Every object has \`id\`, \`name\`, \`description\`, \`enabled\`, \`createdAt\` and \`updatedAt\`;
all kinds but resource sets and admin keys also have \`resourceSetId\`.

- \`POST\` creates an object and answers \`201\` with the object and a \`location\` header.
  \`resourceSetId\` defaults to the \`default\` resource set; \`enabled\` defaults to \`true\`;
  \`description\` defaults to \`""\`. The \`name\` must be unique among objects of that kind in the
  resource set (\`409 name_taken\` otherwise). Resource sets have names unique among them; an
  admin key's name is unique among the keys of the same resource sets, so that a clash never
  reveals a key outside the scope of the admin who chose the name.
- \`PATCH\` changes an object. The fields you send replace the stored ones, whole: sending
  \`identities\` or \`config\` replaces the entire array or object, it is not merged. Fields you do
  not send stay as they are. The body needs at least one field.
- \`type\` (of trust providers, credential providers, access conditions and log streams) and
  \`resourceSetId\` are fixed at creation. A PATCH may repeat their current value, so you can send
  back what you read; a different value gets \`400 immutable_field\`.
- \`secrets\` (credential providers and log streams) are write-only. They are encrypted at rest and
  never returned: reads show the names of the secret fields that are set, in \`secretFields\`. On
  PATCH, \`secrets\` is merged into the stored secrets: a string sets a field, \`null\` removes it,
  and fields you leave out stay as they are.
- \`config\` and \`secrets\` are checked against the schema of the provider \`type\`; mistakes come
  back as \`400 validation_failed\` with paths such as \`/config/...\` or \`/secrets/...\`.
- References (\`clientWorkloadIds\`, \`serverWorkloadId\`, ...) must name objects of the right kind
  in the same resource set (\`400 invalid_reference\`). An object that others still reference
  cannot be deleted (\`409 still_referenced\`).
- \`DELETE\` answers \`204\` with no body.
- Send \`content-type: application/json\` only with a body. A \`DELETE\` or a
  \`POST /api/v1/signing-keys/rotate\` takes no body: one that sends a body gets
  \`400 validation_failed\` (\`/body\`) and changes nothing; one that declares JSON but sends no
  body gets \`400 invalid_json\`.
- Bodies are UTF-8 JSON. Bytes that are not UTF-8, even inside a string, get \`400 invalid_json\`:
  they are never stored as replacement characters.
- Every create, change and delete is recorded as an \`admin.change\` audit event, with the names of
  the fields that changed (never their values).
`;
}

function renderMarkdown(openapi, roles, errors) {
  const deref = createResolver(openapi);
  const tags = operationsByTag(openapi);
  const seen = new Set();
  const usedNotes = new Set();
  const sections = [renderIntro(openapi, roles, errors)];

  const index = [];
  for (const [tag, operations] of tags) {
    const auth = operations.some((op) => isAuthenticated(op.path)) ? 'admin key' : 'none';
    index.push([`[${tag}](#${anchor(tag)})`, operations.map((op) => code(`${op.method.toUpperCase()} ${op.path}`)).join('<br>'), auth]);
  }
  const edge = Object.keys(openapi.paths ?? {}).some((path) => path.startsWith(EDGE_PREFIX));
  const edgeNote = edge
    ? '\n\nThe edge API under `/edge/v1` is the protocol between the SDK and the control plane: it authenticates workloads, not admin keys. It is described in [openapi.json](openapi.json), not on this page.'
    : '';
  sections.push(`## Endpoints\n\n${table(['resource', 'operations', 'key'], index)}${edgeNote}\n`);

  for (const [tag, operations] of tags) {
    const objectSchema = tagObjectSchema(operations, deref);
    const parts = [`## ${tag}`];
    if (TAG_INTROS[tag]) parts.push(TAG_INTROS[tag]);
    if (objectSchema && isObjectSchema(deref(objectSchema))) {
      parts.push(`### ${tag} fields`, `${capitalize(article(tag))} ${tag.toLowerCase()} as the API returns it:`, objectTables(objectSchema, deref, { kind: 'response', seen }));
    }
    const context = { deref, objectSchema, title: tag, seen, usedNotes };
    for (const operation of operations) parts.push(renderOperation(operation, context));
    sections.push(`${parts.join('\n\n')}\n`);
  }

  const stale = Object.keys(OPERATION_NOTES).filter((key) => !usedNotes.has(key));
  if (stale.length > 0) throw new Error(`OPERATION_NOTES name operations that do not exist: ${stale.join(', ')}`);
  return `${sections.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}

main().catch((error) => {
  process.stderr.write(`generate-api-docs: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
