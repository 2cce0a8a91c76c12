import { parseArgs } from 'node:util';
import { createProviderRegistry, validateConfig } from '@tessera/providers';
import { resolveServerConfig, type ServerConfig } from './config.js';
import { SecretBox, generateMasterKey, loadMasterKey, verifyMasterKey } from './crypto/secret-box.js';
import { KeyRing } from './keys/key-ring.js';
import { generateAdminKey } from './objects/admin-keys.js';
import { KIND_BY_NAME } from './objects/kinds.js';
import { ObjectService } from './objects/service.js';
import { typedSchemaLookup } from './objects/registry-schemas.js';
import { SYSTEM_PRINCIPAL } from './bootstrap.js';
import { startServer } from './server.js';
import { recordKeyRotation } from './api/signing-key-routes.js';
import { openStore } from './store/index.js';
import { StdoutLog } from './stdout-log.js';
import { ALL_RESOURCE_SETS } from './auth/roles.js';

const USAGE = `Usage: tessera-cloud <command> [options]

Commands:
  start                     Run the control plane
  keys rotate               Rotate the token-signing keys, ES256 and RS256 if in use (the previous
                            public keys stay published until tokens they signed have expired)
  admin-keys create         Create an admin key directly in the store (recovery); prints it once
  admin-keys generate       Print a random admin key, e.g. for TESSERA_BOOTSTRAP_ADMIN_KEY
  master-key generate       Print a random master key for TESSERA_MASTER_KEY

Options (start, keys, admin-keys create):
  --host HOST               Listen address (TESSERA_HOST, default 127.0.0.1)
  --port PORT               Listen port (TESSERA_PORT, default 8080)
  --public-url URL          URL clients reach this server at; the OIDC issuer (TESSERA_PUBLIC_URL)
  --data DIR                Data directory of the embedded store (TESSERA_DATA_DIR, default ./.tessera)
  --database-url URL        postgres://... to use PostgreSQL instead (TESSERA_DATABASE_URL)
  --log-level LEVEL         fatal|error|warn|info|debug|trace|silent (TESSERA_LOG_LEVEL, default info)
  --trusted-proxy CIDR      A proxy whose X-Forwarded-For is believed (repeatable; TESSERA_TRUSTED_PROXIES,
                            comma-separated). Without one, the socket address is the caller's address.
  --plugin MODULE           A module that registers custom providers (repeatable; TESSERA_PLUGINS)
  --log-stream-allow CIDR   An address or range log streams may send to although it is loopback,
                            private or link-local (repeatable; TESSERA_LOG_STREAM_ALLOW, comma-separated)
  --provider-egress-allow CIDR  An address or range providers (JWKS, token endpoints, STS) may reach
                            although it is loopback or link-local; private ranges need no entry
                            (repeatable; TESSERA_PROVIDER_EGRESS_ALLOW, comma-separated)
  --provider-egress-private allow|refuse  Whether providers may reach private addresses without
                            --provider-egress-allow (TESSERA_PROVIDER_EGRESS_PRIVATE, default allow)
  --audit-retention AGE     Delete audit events older than AGE, e.g. 30d, 12h, 90m (TESSERA_AUDIT_RETENTION,
                            default: keep them all); events a log stream has not exported yet are kept
  --metrics-retention AGE   Delete request metrics older than AGE (TESSERA_METRICS_RETENTION, default: as
                            --audit-retention, else keep them all)
  --metrics-interval SECONDS  How often SDKs report request metrics at most (TESSERA_METRICS_INTERVAL,
                            default 10); raise it for large fleets
  --headers-timeout-ms MS   Time a client has to send its request headers (TESSERA_HEADERS_TIMEOUT_MS, default 10000)
  --request-timeout-ms MS   Time a client has to send its whole request (TESSERA_REQUEST_TIMEOUT_MS, default 30000)
  --keep-alive-timeout-ms MS  An idle keep-alive connection is closed after this (TESSERA_KEEP_ALIVE_TIMEOUT_MS, default 72000)
  --idle-timeout-ms MS      A connection on which nothing moves is closed after this (TESSERA_IDLE_TIMEOUT_MS, default 120000)
  --replay-cache-size N     Most DPoP proof ids (and used nonces) remembered at once (TESSERA_REPLAY_CACHE_SIZE, default 200000)

Options (admin-keys create):
  --name NAME               Name of the key (required)
  --role ROLE               admin|editor|policy-editor|auditor (default admin)
  --resource-set ID         Limit the key to a resource set (repeatable; default: all)

Environment:
  TESSERA_MASTER_KEY        32-byte key (base64 or hex) that encrypts secrets at rest; required with
                            PostgreSQL, otherwise read from (or created in) <data>/master.key
  TESSERA_BOOTSTRAP_ADMIN_KEY  The first admin key to create on an empty store, instead of a random one
`;

const SERVER_OPTIONS = {
  host: { type: 'string' },
  port: { type: 'string' },
  'public-url': { type: 'string' },
  data: { type: 'string' },
  'database-url': { type: 'string' },
  'log-level': { type: 'string' },
  name: { type: 'string' },
  role: { type: 'string' },
  'resource-set': { type: 'string', multiple: true },
  'trusted-proxy': { type: 'string', multiple: true },
  plugin: { type: 'string', multiple: true },
  'log-stream-allow': { type: 'string', multiple: true },
  'provider-egress-allow': { type: 'string', multiple: true },
  'provider-egress-private': { type: 'string' },
  'audit-retention': { type: 'string' },
  'metrics-retention': { type: 'string' },
  'metrics-interval': { type: 'string' },
  'headers-timeout-ms': { type: 'string' },
  'request-timeout-ms': { type: 'string' },
  'keep-alive-timeout-ms': { type: 'string' },
  'idle-timeout-ms': { type: 'string' },
  'replay-cache-size': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: SERVER_OPTIONS, allowPositionals: true, strict: true });
  const command = positionals.join(' ');
  if (values.help || command === '' || command === 'help') {
    process.stdout.write(USAGE);
    return command === '' && !values.help ? 1 : 0;
  }
  const config = () => resolveServerConfig(values, process.env);
  switch (command) {
    case 'start':
      return start(config());
    case 'keys rotate':
      return rotateKeys(config());
    case 'admin-keys create':
      return createAdminKey(config(), values);
    case 'admin-keys generate':
      process.stdout.write(`${generateAdminKey()}\n`);
      return 0;
    case 'master-key generate':
      process.stdout.write(`${generateMasterKey()}\n`);
      return 0;
    default:
      process.stderr.write(`tessera-cloud: unknown command "${command}"\n\n${USAGE}`);
      return 1;
  }
}

/** Longest wait for log lines still queued for stdout once the server is ready to exit. */
const OUTPUT_FLUSH_MS = 1000;

async function start(config: ServerConfig): Promise<number> {
  // The banner and the logs go through one writer that never blocks: a stdout that nobody reads
  // (a full or closed pipe) must not stall requests nor keep the process from exiting.
  const output = new StdoutLog();
  const server = await startServer({ config, output });
  const exit = (code: number) => void output.flush(OUTPUT_FLUSH_MS).then(() => process.exit(code));
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) process.exit(1); // a second Ctrl-C does not wait
    server.app.log.info({ signal }, 'shutting down: finishing in-flight requests');
    const timer = setTimeout(() => {
      server.app.log.error('shutdown timed out; exiting');
      exit(1);
    }, config.shutdownTimeoutMs);
    timer.unref();
    server.close().then(
      () => exit(0),
      (error: unknown) => {
        server.app.log.error({ err: error }, 'shutdown failed');
        exit(1);
      },
    );
  };
  // Handlers go in before anything announces readiness: a prompt SIGTERM must still drain.
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  if (server.bootstrapAdminKey) {
    // Printed once, to the terminal only: the store keeps nothing but its hash.
    output.write(
      `\nBootstrap admin key (shown once, store it now):\n\n  ${server.bootstrapAdminKey}\n\n` +
        `Use it as:  Authorization: Bearer <key>   against ${server.url}/api/v1\n\n`,
    );
  }
  const store = config.databaseUrl ? 'PostgreSQL' : `SQLite in ${config.dataDir}`;
  output.write(
    `Tessera control plane listening on ${server.listeningUrl}\n  store: ${store}\n  issuer: ${server.url}\n`,
  );
  return new Promise<number>(() => {}); // runs until a signal ends the process
}

/** Opens the configured store and master key for an offline command. */
async function openForMaintenance(config: ServerConfig) {
  const embedded = config.databaseUrl === undefined;
  const master = await loadMasterKey({ env: process.env, createIfMissing: false, ...(embedded ? { dataDir: config.dataDir } : {}) });
  const box = new SecretBox(master.key);
  const store = await openStore({ dataDir: config.dataDir, ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : {}) });
  try {
    await verifyMasterKey(store, box);
  } catch (error) {
    await store.close();
    throw error;
  }
  return { box, store };
}

async function rotateKeys(config: ServerConfig): Promise<number> {
  const { box, store } = await openForMaintenance(config);
  try {
    const result = await new KeyRing({ store, box }).rotate();
    await recordKeyRotation(store, SYSTEM_PRINCIPAL, result);
    // The first line is the ES256 key, as it always was; an RS256 key in use gets its own line.
    for (const key of result.keys) {
      const label = key.alg === 'ES256' ? 'Signing key' : `${key.alg} signing key`;
      process.stdout.write(`${label} rotated: new kid ${key.kid}` + (key.retiredKid ? `, retired ${key.retiredKid}` : '') + '\n');
    }
    return 0;
  } finally {
    await store.close();
  }
}

async function createAdminKey(config: ServerConfig, values: { name?: string; role?: string; 'resource-set'?: string[] }) {
  if (!values.name) throw new Error('admin-keys create needs --name');
  const { box, store } = await openForMaintenance(config);
  try {
    const service = new ObjectService({ store, box, schemas: typedSchemaLookup(createProviderRegistry()) });
    const definition = KIND_BY_NAME.get('admin-key')!;
    const body = {
      name: values.name,
      role: values.role ?? 'admin',
      resourceSetIds: values['resource-set']?.length ? values['resource-set'] : [ALL_RESOURCE_SETS],
      description: 'Created with tessera-cloud admin-keys create',
    };
    // The same schema the API enforces: the CLI writes to the store directly, past the HTTP layer.
    const checked = validateConfig(definition.createBody, body);
    if (!checked.ok) {
      throw new Error(checked.errors.map((e) => `${e.path.replace(/^\//, '--').replace('resourceSetIds', 'resource-set')}: ${e.message}`).join('; '));
    }
    const created = await service.create(SYSTEM_PRINCIPAL, definition, body);
    process.stdout.write(`Admin key ${created.name as string} (${created.id as string}), shown once:\n\n  ${created.key as string}\n\n`);
    return 0;
  } finally {
    await store.close();
  }
}

// A closed pipe (`tessera-cloud ... | head`) ends what a command prints; it must not crash it.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`tessera-cloud: ${message}\n`);
    process.exitCode = 1;
  },
);
