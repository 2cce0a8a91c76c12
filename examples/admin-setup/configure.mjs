// Configures a Tessera environment through the admin API from a declarative file, idempotently.
// Every object is found by its name: a missing one is created, one that differs from the file
// is changed (only the fields that differ), an equal one is left alone. Nothing is deleted.
// One line per object, then a summary; on any error a clear message and exit code 1.
//
//   TESSERA_URL=http://127.0.0.1:8080 TESSERA_ADMIN_KEY=tsk_... MARKET_DATA_API_KEY=... \
//     node examples/admin-setup/configure.mjs examples/admin-setup/environment.json [--dry-run] [--update-secrets]
//
// The file holds no secret: a credential provider's `secretsFromEnv` names the environment
// variable each secret is read from. Objects refer to each other by name.
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';

// The kinds, in the order they are applied: access policies refer to all the others.
const KINDS = [
  { key: 'trustProviders', path: 'trust-providers', label: 'trust-provider' },
  { key: 'clientWorkloads', path: 'client-workloads', label: 'client-workload' },
  { key: 'serverWorkloads', path: 'server-workloads', label: 'server-workload' },
  { key: 'credentialProviders', path: 'credential-providers', label: 'credential-provider' },
  { key: 'accessConditions', path: 'access-conditions', label: 'access-condition' },
  { key: 'accessPolicies', path: 'access-policies', label: 'access-policy' },
];
// Access policy fields written with names in the file → the API's id fields.
const REFERENCES = {
  clientWorkloads: { field: 'clientWorkloadIds', kind: 'clientWorkloads', many: true },
  serverWorkload: { field: 'serverWorkloadId', kind: 'serverWorkloads', many: false },
  trustProviders: { field: 'trustProviderIds', kind: 'trustProviders', many: true },
  accessConditions: { field: 'accessConditionIds', kind: 'accessConditions', many: true },
  credentialProvider: { field: 'credentialProviderId', kind: 'credentialProviders', many: false },
};

class ConfigureError extends Error {}

const args = process.argv.slice(2);
const file = args.find((arg) => !arg.startsWith('--'));
const dryRun = args.includes('--dry-run');
const updateSecrets = args.includes('--update-secrets');
const { TESSERA_URL, TESSERA_ADMIN_KEY } = process.env;
if (!file || !TESSERA_URL || !TESSERA_ADMIN_KEY) {
  console.error('usage: TESSERA_URL=... TESSERA_ADMIN_KEY=... node configure.mjs <environment.json> [--dry-run] [--update-secrets]');
  process.exit(2);
}

try {
  await configure(readEnvironment(file));
} catch (error) {
  if (!(error instanceof ConfigureError)) throw error;
  console.error(`configure: ${error.message}`);
  process.exit(1);
}

async function configure(environment) {
  const counts = { created: 0, updated: 0, unchanged: 0 };
  const report = (action, label, name, detail = '') => {
    counts[action] += 1;
    const verb = dryRun && action !== 'unchanged' ? `would ${action.slice(0, -1)}` : action;
    console.log(`${verb.padEnd(12)} ${label.padEnd(20)} ${name}${detail}`);
  };

  const resourceSetName = environment.resourceSet ?? 'default';
  let resourceSet = (await listAll('resource-sets')).find((set) => set.name === resourceSetName);
  if (resourceSet === undefined) {
    resourceSet = dryRun ? { id: undefined } : await call('POST', '/api/v1/resource-sets', { name: resourceSetName });
    report('created', 'resource-set', resourceSetName);
  }

  const byName = {}; // kind → name → object, as stored (or as it will be, in a dry run)
  for (const { key, path } of KINDS) {
    const existing = resourceSet.id ? await listAll(path, { resourceSetId: resourceSet.id }) : [];
    byName[key] = new Map(existing.map((object) => [object.name, object]));
  }
  checkReferences(environment, byName); // before changing anything

  for (const { key, path, label } of KINDS) {
    for (const entry of environment[key] ?? []) {
      const { secretsFromEnv, ...fields } = entry;
      const desired = key === 'accessPolicies' ? resolveReferences(fields, byName, `${label} "${entry.name}"`) : fields;
      const current = byName[key].get(entry.name);
      if (current === undefined) {
        const body = { ...desired, resourceSetId: resourceSet.id, ...(secretsFromEnv ? { secrets: secrets(secretsFromEnv) } : {}) };
        byName[key].set(entry.name, dryRun ? { ...desired, id: `(new ${entry.name})` } : await call('POST', `/api/v1/${path}`, body));
        report('created', label, entry.name);
        continue;
      }
      if (desired.type !== undefined && desired.type !== current.type) {
        throw new ConfigureError(`${label} "${entry.name}" is of type ${current.type}, the file says ${desired.type}: a type cannot change (delete the object, then run again)`);
      }
      const patch = Object.fromEntries(Object.entries(desired).filter(([field, value]) => !isDeepStrictEqual(value, current[field])));
      // Secrets are write-only: the API says which are set, never their values. Write the ones
      // not set yet, or all of them with --update-secrets, or when the config changes (a change
      // of where the secrets are sent, such as a token endpoint, must carry them again).
      const resend = updateSecrets || 'config' in patch;
      const secretNames = Object.keys(secretsFromEnv ?? {}).filter((name) => resend || !current.secretFields?.includes(name));
      if (secretNames.length > 0) patch.secrets = secrets(Object.fromEntries(secretNames.map((name) => [name, secretsFromEnv[name]])));
      const changed = Object.keys(patch);
      if (changed.length === 0) {
        report('unchanged', label, entry.name);
        continue;
      }
      byName[key].set(entry.name, dryRun ? { ...current, ...desired } : await call('PATCH', `/api/v1/${path}/${current.id}`, patch));
      report('updated', label, entry.name, ` (${changed.join(', ')})`);
    }
  }
  console.log(`${dryRun ? 'dry run: ' : ''}${counts.created} created, ${counts.updated} updated, ${counts.unchanged} unchanged`);
}

/** Reads and checks the file; every secret's environment variable must be set. */
function readEnvironment(path) {
  let environment;
  try {
    environment = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigureError(`cannot read ${path}: ${error.message}`);
  }
  const known = new Set(['resourceSet', ...KINDS.map((kind) => kind.key)]);
  const unknown = Object.keys(environment).filter((key) => !known.has(key));
  if (unknown.length > 0) throw new ConfigureError(`${path}: unknown top-level field(s) ${unknown.join(', ')}`);
  const missing = [];
  for (const { key, label } of KINDS) {
    for (const entry of environment[key] ?? []) {
      if (typeof entry.name !== 'string') throw new ConfigureError(`${path}: every ${label} needs a name`);
      if ('secrets' in entry) throw new ConfigureError(`${path}: ${label} "${entry.name}" has literal secrets; name their environment variables in "secretsFromEnv" instead`);
      for (const variable of Object.values(entry.secretsFromEnv ?? {})) if (!process.env[variable]) missing.push(variable);
    }
  }
  if (missing.length > 0) throw new ConfigureError(`environment variable(s) not set: ${missing.join(', ')} (secrets named in ${path})`);
  return environment;
}

function secrets(fromEnv) {
  return Object.fromEntries(Object.entries(fromEnv).map(([name, variable]) => [name, process.env[variable]]));
}

/** Every name an access policy refers to must be in the file or in the control plane already. */
function checkReferences(environment, byName) {
  const problems = [];
  for (const policy of environment.accessPolicies ?? []) {
    for (const [field, reference] of Object.entries(REFERENCES)) {
      if (policy[field] === undefined) continue;
      for (const name of reference.many ? policy[field] : [policy[field]]) {
        const declared = (environment[reference.kind] ?? []).some((entry) => entry.name === name);
        if (!declared && !byName[reference.kind].has(name)) problems.push(`access-policy "${policy.name}": no ${labelOf(reference.kind)} named "${name}"`);
      }
    }
  }
  if (problems.length > 0) throw new ConfigureError(problems.join('\n  '));
}

function labelOf(kind) {
  return KINDS.find((k) => k.key === kind).label;
}

/** An access policy's references, from names to the ids of those objects. */
function resolveReferences(fields, byName, what) {
  const resolved = {};
  for (const [field, value] of Object.entries(fields)) {
    const reference = REFERENCES[field];
    if (reference === undefined) {
      resolved[field] = value;
      continue;
    }
    const idOf = (name) => {
      const object = byName[reference.kind].get(name);
      if (object === undefined) throw new ConfigureError(`${what}: no ${labelOf(reference.kind)} named "${name}"`);
      return object.id;
    };
    resolved[reference.field] = reference.many ? value.map(idOf) : idOf(value);
  }
  return resolved;
}

/** Every object of a kind, page after page. */
async function listAll(path, query = {}) {
  const items = [];
  let cursor;
  do {
    const params = new URLSearchParams({ ...query, limit: '500', ...(cursor ? { cursor } : {}) });
    const page = await call('GET', `/api/v1/${path}?${params}`);
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}

/** One admin API call; any answer but 2xx becomes a ConfigureError that says what came back. */
async function call(method, path, body) {
  let response;
  try {
    response = await fetch(`${TESSERA_URL.replace(/\/+$/, '')}${path}`, {
      method,
      headers: { authorization: `Bearer ${TESSERA_ADMIN_KEY}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (error) {
    throw new ConfigureError(`cannot reach the control plane at ${TESSERA_URL}: ${error.cause?.code ?? error.message}`);
  }
  const answer = await response.json().catch(() => ({}));
  if (response.ok) return answer;
  const where = `${method} ${path.split('?')[0]}`;
  if (response.status === 401) throw new ConfigureError(`${where}: 401 unauthorized — the control plane refused TESSERA_ADMIN_KEY (unknown, disabled or expired)`);
  const details = (answer.details ?? []).map((d) => `\n  ${d.path ?? ''} ${d.message ?? d.kind ?? ''}`.trimEnd()).join('');
  throw new ConfigureError(`${where}: ${response.status} ${answer.code ?? 'error'} — ${answer.message ?? response.statusText}${details}`);
}
