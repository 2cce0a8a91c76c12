import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOOPBACK_EGRESS } from './support/cloud-process.js';
import { baseEnv, MACHINE_PATH, missingTools, NPM_INSTALL_FLAGS, ROOT } from './support/examples.js';
import { blocksOf, checkTranscripts, docFiles, escapeRegExp, findBlock, isRunnable, runWalk, type BlockRef, type DocBlock, type NotRun, type Walk } from './support/doc-walks.js';

/**
 * Every command and code sample in README.md and docs/ runs here, pasted as the page shows it
 * into one bash session per walk, against real control planes on loopback. A cloud page's
 * commands for a VM run against loopback metadata services that sign like the cloud's; its
 * `aws`, `gcloud` and `az` commands run through the real CLI, without an account, until the CLI
 * asks to sign in (walks whose CLI is not installed are skipped). What needs a cloud account all
 * the same is listed in NOT_RUN with the reason; a block in neither list fails the first test.
 *
 * Replacements are limited to what a page leaves to the reader: its example host names
 * (`tessera.example.com`), the admin key the server printed (`tsk_...`), system paths such as
 * `/var/lib/tessera` (moved under the walk's directory), and example ids and dates. Glue steps
 * do what a page says in words ("with the printed key", "stop the server").
 */

const README = 'README.md';
const DOCS_INDEX = 'docs/README.md';
const QUICKSTART = 'docs/quickstart.md';
const OPERATIONS = 'docs/operations.md';
const OPERATIONS_APPENDIX = 'docs/operations-transcripts.md';
const EDGE_API = 'docs/edge-api.md';
const PROVIDERS = 'docs/providers.md';
const SDK = 'docs/sdk.md';
const AWS = 'docs/cloud-aws.md';
const GCP = 'docs/cloud-gcp.md';
const AZURE = 'docs/cloud-azure.md';
const BENCHMARKS = 'docs/benchmarks.md';
const TESTING = 'docs/testing.md';
const INSTALL = 'docs/install.md';
const TROUBLESHOOTING = 'docs/troubleshooting.md';
const PRODUCTION = 'docs/production.md';

/** The bootstrap key the last started server printed, where a page says "paste the key". */
const PASTE_KEY: ReadonlyArray<readonly [string, string]> = [
  ['tsk_...', '$BOOTSTRAP_KEY'],
  ['tsk_…', '$BOOTSTRAP_KEY'],
];

/** A control plane of the walk's own, for pages that assume one is running. */
const startCloud = (port: number, data = 'data') =>
  `__start_bg 'tessera-cloud start --port ${port} --data "$WALK_DIR/${data}"' 'listening on'; export TESSERA_ADMIN_KEY=$BOOTSTRAP_KEY`;

/** Posts a saved JSON body, as the pages' own `curl -d @file` does. */
const POST_FILE = `post() { curl -sf -X POST "$TESSERA_URL/api/v1/$1" -H "Authorization: Bearer $TESSERA_ADMIN_KEY" -H 'content-type: application/json' -d @"$2"; echo; }`;

/** Lists one kind of object, name and type. */
const list = (kind: string) =>
  `curl -sf -H "Authorization: Bearer $TESSERA_ADMIN_KEY" "$TESSERA_URL/api/v1/${kind}" | jq -r '.items[] | "${kind}: " + .name + (if .type then " (" + .type + ")" else "" end)'`;

/** The admin helper of the quickstart (it prints the new object's id), for objects a page assumes exist. */
const ADMIN_HELPER = (() => {
  const text = findBlock({ file: QUICKSTART, starts: '# admin KIND JSON' }, blocksOf(QUICKSTART)).text;
  return text.slice(0, text.indexOf('\n}\n') + 3);
})();

/** The quickstart's objects, made as the quickstart makes them, for pages that start from its set-up. */
const QUICKSTART_OBJECTS = [
  'node "$REPO_ROOT/examples/quickstart/walkthrough/identity.mjs"',
  ADMIN_HELPER,
  `TRUST=$(admin trust-providers "{\\"name\\":\\"walkthrough-idp\\",\\"type\\":\\"oidc\\",\\"config\\":{\\"issuer\\":\\"https://idp.walkthrough.local\\",\\"jwks\\":$(cat .walkthrough/jwks.json),\\"algorithms\\":[\\"ES256\\"]}}")`,
  `CLIENT=$(admin client-workloads '{"name":"my-script","identities":[{"claim":"oidc.subject","value":"my-script"}]}')`,
  `SERVER=$(admin server-workloads '{"name":"echo-api","scheme":"http","host":"127.0.0.1","port":9090,"injection":{"kind":"header","name":"authorization","format":"Bearer {token}"}}')`,
  `KEY=$(admin credential-providers '{"name":"echo-api-key","type":"api-key","secrets":{"apiKey":"sk_walkthrough_secret"}}')`,
  `QUICKSTART_POLICY=$(admin access-policies "{\\"name\\":\\"my-script-to-echo\\",\\"clientWorkloadIds\\":[\\"$CLIENT\\"],\\"serverWorkloadId\\":\\"$SERVER\\",\\"trustProviderIds\\":[\\"$TRUST\\"],\\"credentialProviderId\\":\\"$KEY\\"}")`,
].join('\n');

/**
 * The lines of an output block a page shows (a `text` block starting with `starts`), each as a
 * pattern for a line of the walk's output, in which the page's times stand for any time.
 */
function shownLines(file: string, starts: string): RegExp[] {
  const block = blocksOf(file).find((b) => b.lang === 'text' && b.text.startsWith(starts));
  if (block === undefined) throw new Error(`${file}: no text block starting with ${JSON.stringify(starts)}`);
  const TIME = '\u0000';
  return block.text
    .trimEnd()
    .split('\n')
    .map((line) => escapeRegExp(line.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, TIME)).replaceAll(TIME, '[^"]+'))
    .map((pattern) => new RegExp(`^${pattern}$`, 'm'));
}

/** Stand-ins for AWS's published instance identity certificates (the trust provider only needs PEM certificates). */
const FAKE_AWS_CERTIFICATES = [
  'for region in eu-west-1 eu-central-1; do',
  '  openssl req -x509 -newkey rsa:2048 -nodes -keyout /dev/null -subj "/CN=$region" -days 1 -out "$region-rsa2048.pem" 2>/dev/null',
  'done',
].join('\n');

/** A server's JSON log line: its time, pid and host name differ from the page's. */
const LOG_LINE = /"time":\d+,"pid":\d+,"hostname":"[^"]*"/;

/** Plugins the page describes in words, to show how a plugin that does not load is reported. */
const BAD_PLUGINS = [
  `schema='{"type":"object","properties":{},"additionalProperties":false}'`,
  `provider() { echo "export default { credentialProviders: [{ specificationVersion: 'v1', type: '$1', configSchema: $2, secretsSchema: $schema, async issue() { throw new Error('not used') } }] };"; }`,
  `provider api-key "$schema" > shadow.js`,
  `provider Bad_Name "$schema" > broken.js`,
  `provider open-schema '{"type":"object"}' > open-schema.js`,
].join('\n');

/**
 * A cloud's CLI with no account: each command runs for real until the CLI needs credentials,
 * so its sub-command, flags and files are checked, and the CLI's answer must be that it needs
 * to sign in (a usage error fails the walk). Accepted commands are listed at the end.
 */
const signInCheck = (cli: string, signInMessage: string) =>
  [
    `${cli}() {`,
    `  local out status=0; out=$(command ${cli} "$@" 2>&1) || status=$?`,
    `  if [ "$status" -ne 0 ] && grep -qF -- ${JSON.stringify(signInMessage)} <<<"$out"; then echo "${cli} $*" >> "$WALK_DIR/accepted"; return 0; fi`,
    `  echo "$out" >&2; echo "${cli} did not stop at sign-in (exit $status)" >&2; return 1`,
    '}',
  ].join('\n');
const GCLOUD_WITHOUT_ACCOUNT = [
  'export CLOUDSDK_CONFIG="$WALK_DIR/gcloud" CLOUDSDK_CORE_DISABLE_PROMPTS=1 CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=1 CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=1',
  signInCheck('gcloud', 'You do not currently have an active account selected'),
].join('\n');
const AWS_WITHOUT_ACCOUNT = [
  'export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true',
  signInCheck('aws', 'Unable to locate credentials'),
].join('\n');
const AZ_WITHOUT_ACCOUNT = [
  'export AZURE_CONFIG_DIR="$WALK_DIR/azure" AZURE_CORE_COLLECT_TELEMETRY=false AZURE_CORE_NO_COLOR=true',
  signInCheck('az', "Please run 'az login' to setup account."),
].join('\n');
const accepted = (cli: string) => `echo; echo "CLI: $(command ${cli} --version 2>&1 | grep -v WARNING | head -n 1)"; sed 's/^/accepted: /' "$WALK_DIR/accepted"`;

/** Prints a field of the JSON line (the one holding `line`) that the cloud fakes just started (support/cloud-fakes.mjs) printed. */
const fakesField = (field: string, line = 'imds') => `grep '"${line}"' "$BG_LOG" | jq -r .${field}`;

/** An EC2 instance's IMDSv2 (documents signed like AWS's) in $IMDS, and its signing certificate as the page's PEM file. */
const AWS_IMDS = [
  `__start_bg 'CLOUD_URL=http://127.0.0.1:1 WORKLOAD_SUBJECT=none ROLE_ARN=arn:aws:iam::123456789012:role/none node "$REPO_ROOT/test/e2e/support/cloud-fakes.mjs" aws' '"imds"'`,
  `IMDS=$(${fakesField('imds')}); ${fakesField('certificatePem')} > eu-west-1-rsa2048.pem`,
].join('\n');

/** An Azure VM's IMDS in $IMDS, handing out tokens of `identity`, signed with keys served at $ENTRA_KEYS (standing in for Entra's). */
const azureImds = (identity: { clientId: string; objectId: string; resourceId: string }) =>
  [
    `export CLOUD_URL=http://127.0.0.1:1 TENANT_ID=72f988bf-86f1-41af-91ab-2d7cd011db47 APP_CLIENT_ID=none WORKLOAD_SUBJECT=none BLOBS='{}'`,
    `export IDENTITY='${JSON.stringify(identity)}' FOREIGN_IDENTITY='${JSON.stringify(identity)}'`,
    `__start_bg 'node "$REPO_ROOT/test/e2e/support/cloud-fakes.mjs" azure' '"imds"'`,
    `IMDS=$(${fakesField('imds')}); ENTRA_KEYS=$(${fakesField('jwksUri')})`,
  ].join('\n');

/** The page's `app.js`: an application that only says it started (the SDK attests before it runs). */
const stubApp = (file: string) => `echo "console.log('${file}: started')" > ${file}  # the application`;

/** The attestations the control plane at $`urlVariable` recorded, oldest last. */
const attestations = (urlVariable: string) =>
  `curl -sf -H "Authorization: Bearer $TESSERA_ADMIN_KEY" "$${urlVariable}/api/v1/audit-events?kind=edge.attest" | jq -r '.items[] | "attest: " + .outcome + " " + .data.evidenceType'`;

const PG_ADMIN = process.env.TESSERA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const pgDatabaseUrl = (name: string) => Object.assign(new URL(PG_ADMIN), { pathname: `/${name}` }).href;
const PG_DATABASES = [
  'for db in tessera_docs_ops tessera_docs_restore; do',
  `  psql -qX ${PG_ADMIN} -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"`,
  'done',
  `export DATABASE_URL=${pgDatabaseUrl('tessera_docs_ops')} RESTORE_DATABASE_URL=${pgDatabaseUrl('tessera_docs_restore')}`,
].join('\n');

const WALKS: Array<Walk & { expect: RegExp[] }> = [
  {
    name: 'quickstart.md, by hand: npm start, the objects, a secretless call, the audit trail',
    cwd: 'repo',
    replace: PASTE_KEY,
    // The reader's own PATH: `npm start` brings the project's Node, the page's `export PATH` does the rest.
    env: { PATH: MACHINE_PATH },
    steps: [
      { glue: 'export TESSERA_DATA_DIR="$WALK_DIR/npm-start-data"  # a fresh store instead of ./.tessera' },
      { file: QUICKSTART, starts: 'npm start', run: 'background', ready: 'Tessera control plane listening on http://127.0.0.1:8080' },
      { file: QUICKSTART, starts: 'export PATH="$PWD/node_modules/.bin:$PATH"', run: 'sh' },
      { file: README, starts: 'export PATH="$PWD/node_modules/.bin:$PATH"\nnode --version', run: 'sh' },
      { file: QUICKSTART, starts: 'export TESSERA_ADMIN_KEY', run: 'sh' },
      { file: QUICKSTART, starts: '# admin KIND JSON', run: 'sh' },
      { file: QUICKSTART, starts: '$ admin client-workloads', run: 'transcript' },
      { file: QUICKSTART, starts: '$ TESSERA_ADMIN_KEY=tsk_not_the_key admin', run: 'transcript' },
      { file: QUICKSTART, starts: 'node examples/quickstart/walkthrough/echo-api.mjs &', run: 'sh' },
      { glue: 'until curl -s -o /dev/null http://127.0.0.1:9090/; do sleep 0.1; done  # "wait for echo API on ..."' },
      { file: QUICKSTART, starts: 'TESSERA_CLOUD_URL=$TESSERA TESSERA_OIDC_TOKEN_FILE', run: 'sh' },
      { file: QUICKSTART, starts: 'curl -s -H "Authorization: Bearer $TESSERA_ADMIN_KEY" "$TESSERA/api/v1/audit-events', run: 'sh' },
      { file: QUICKSTART, starts: 'curl -s -H "Authorization: Bearer $TESSERA_ADMIN_KEY" "$TESSERA/api/v1/request-metrics', run: 'sh' },
      { glue: '__stop_all  # "with the control plane and the echo API stopped"' },
      { file: QUICKSTART, starts: 'rm -rf .tessera .walkthrough', run: 'sh', replace: [['.tessera', '"$TESSERA_DATA_DIR"']] },
      { glue: 'test ! -e "$TESSERA_DATA_DIR" && test ! -e .walkthrough && echo "started over: nothing left"' },
    ],
    expect: [/^v24\.\d+\.\d+$/m, /^authorization: Bearer sk_walkthrough_secret$/m, /^edge\.credential allow/m, /^edge\.attest allow/m, /^allow 2xx 1 request to http:\/\/127\.0\.0\.1:9090$/m, /^started over: nothing left$/m],
  },
  {
    name: 'README.md, operations.md and its appendix: start, check, master key, admin keys, rotation, backup and restore, PostgreSQL replicas',
    cwd: 'project',
    replace: [
      ...PASTE_KEY,
      ['/var/lib/tessera', '$WALK_DIR/var/lib/tessera'],
      ['/var/backups/tessera', '$WALK_DIR/var/backups/tessera'],
      ['2026-11-23', '$(date +%F)'],
      ['01a2090b-d8b6-73da-aed2-a11e7f7920cd', '$RESOURCE_SET'],
      ['https://tessera.example.com', 'http://127.0.0.1:8080'],
    ],
    steps: [
      { glue: 'cd "$REPO_ROOT"; export TESSERA_DATA_DIR="$WALK_DIR/npm-start-data"  # from a checkout, with a fresh store instead of ./.tessera' },
      { file: OPERATIONS, starts: 'npm start', run: 'background', ready: 'Tessera control plane listening on http://127.0.0.1:8080' },
      { glue: 'cd "$WALK_DIR"' },
      { file: README, starts: 'export TESSERA_ADMIN_KEY=tsk_...', run: 'sh' },
      { file: OPERATIONS, starts: 'curl -s http://127.0.0.1:8080/readyz', run: 'sh' },
      { file: OPERATIONS, starts: 'curl -s -H "Authorization: Bearer $TESSERA_ADMIN_KEY" http://127.0.0.1:8080/api/v1/resource-sets', run: 'sh' },
      { glue: '__stop_last; unset TESSERA_DATA_DIR; mkdir -p "$WALK_DIR/var/lib"  # as on a real system' },
      { file: OPERATIONS_APPENDIX, starts: '$ tessera-cloud start --data /var/lib/tessera --trusted-proxy 10.0.0.0/40', run: 'transcript', vary: [LOG_LINE] },
      { file: OPERATIONS, starts: 'tessera-cloud start --data /var/lib/tessera', run: 'background', ready: 'listening on' },
      { glue: 'export TESSERA_ADMIN_KEY=$BOOTSTRAP_KEY' },
      { file: OPERATIONS_APPENDIX, starts: '$ tessera-cloud start --port 80800', run: 'transcript' },
      { file: OPERATIONS_APPENDIX, starts: '$ ls -la /var/lib/tessera', run: 'transcript', vary: [/^total \d+$/, /(?<=^[-d]r[-w][-x]------|^drwxr-xr-x) +\d+ \S+ +\S+ +\d+ \w{3} +\d+ \d\d:\d\d/] },
      { file: OPERATIONS_APPENDIX, starts: '$ TESSERA_MASTER_KEY="$(tessera-cloud master-key generate)" tessera-cloud start', run: 'transcript' },
      { file: OPERATIONS_APPENDIX, starts: '$ TESSERA_MASTER_KEY=not-a-key', run: 'transcript' },
      { glue: 'chmod 644 "$WALK_DIR/var/lib/tessera/master.key"  # a key file that other users can read' },
      { file: OPERATIONS_APPENDIX, starts: '$ tessera-cloud start --data /var/lib/tessera\ntessera-cloud: master key', run: 'transcript' },
      { glue: 'chmod 600 "$WALK_DIR/var/lib/tessera/master.key"' },
      { file: OPERATIONS_APPENDIX, starts: '$ TESSERA_BOOTSTRAP_ADMIN_KEY=too-short', run: 'transcript' },
      { file: OPERATIONS, starts: 'tessera-cloud master-key generate', run: 'sh' },
      { file: OPERATIONS, starts: 'export TESSERA_MASTER_KEY="$(cat', run: 'sh' },
      { file: OPERATIONS, starts: 'tessera-cloud admin-keys generate', run: 'sh' },
      { file: OPERATIONS, starts: '$ tessera-cloud admin-keys create --name recovery', run: 'transcript', vary: [/[0-9a-f-]{36}/] },
      { glue: `RESOURCE_SET=$(curl -sf -H "Authorization: Bearer $TESSERA_ADMIN_KEY" http://127.0.0.1:8080/api/v1/resource-sets | jq -r '.items[0].id')` },
      { file: OPERATIONS, starts: 'tessera-cloud admin-keys create --name ci-readonly', run: 'sh' },
      { file: OPERATIONS, starts: 'curl -s -X POST -H "Authorization: Bearer $TESSERA_ADMIN_KEY" http://127.0.0.1:8080/api/v1/signing-keys/rotate', run: 'sh' },
      { glue: 'echo' },
      { file: OPERATIONS, starts: '$ tessera-cloud keys rotate', run: 'transcript', vary: [/[A-Za-z0-9_-]{43}/] },
      { file: OPERATIONS, starts: 'curl -s -H "Authorization: Bearer $TESSERA_ADMIN_KEY" http://127.0.0.1:8080/api/v1/signing-keys', run: 'sh' },
      { glue: 'echo' },
      { file: OPERATIONS, starts: 'curl -s -H "Authorization: Bearer $TESSERA_ADMIN_KEY" "http://127.0.0.1:8080/api/v1/audit-events?kind=signing-key.rotate"', run: 'sh' },
      { file: OPERATIONS, starts: 'umask 077\ninstall -d', run: 'sh' },
      { glue: 'rm "$WALK_DIR"/var/backups/tessera/*.db  # VACUUM INTO is the other way to the same copy' },
      { file: OPERATIONS, starts: 'sqlite3 /var/lib/tessera/tessera.db "VACUUM INTO', run: 'sh' },
      { file: OPERATIONS, starts: '$ sqlite3', run: 'transcript' },
      { glue: '__stop_last; mkdir "$WALK_DIR/moved-out"; mv "$WALK_DIR"/var/lib/tessera/tessera.db* "$WALK_DIR/moved-out/"  # restore, steps 1 and 2' },
      { file: OPERATIONS, starts: 'install -m 600', run: 'sh' },
      { glue: `__start_bg 'tessera-cloud start --data "$WALK_DIR/var/lib/tessera"' 'listening on'  # restore, step 4` },
      { glue: `curl -sf -H "Authorization: Bearer $TESSERA_ADMIN_KEY" http://127.0.0.1:8080/api/v1/admin-keys | jq -r '"restored admin keys: " + ([.items[].name] | sort | join(","))'` },
      { glue: `__stop_last\n${PG_DATABASES}\nunset TESSERA_MASTER_KEY` },
      { file: OPERATIONS_APPENDIX, starts: '$ tessera-cloud start --database-url "$DATABASE_URL"', run: 'transcript' },
      { file: OPERATIONS, starts: 'export TESSERA_MASTER_KEY="$(tessera-cloud master-key generate)"', run: 'background', ready: 'listening on' },
      { file: OPERATIONS, starts: 'tessera-cloud start --port 8081', run: 'background', ready: 'listening on' },
      { glue: `curl -sf -H "Authorization: Bearer $BOOTSTRAP_KEY" http://127.0.0.1:8081/api/v1/resource-sets | jq -r '"replica 8081 sees: " + .items[0].name'` },
      { file: OPERATIONS, starts: 'umask 077\npg_dump', run: 'sh' },
      { file: OPERATIONS, starts: 'pg_restore', run: 'sh' },
      { glue: `psql -qX ${PG_ADMIN} -c "DROP DATABASE tessera_docs_ops WITH (FORCE)"  # the replicas lose their database` },
      { file: OPERATIONS_APPENDIX, starts: "$ curl -s -w ' %{http_code}", run: 'transcript' },
      { glue: `__stop_last; __stop_last\n__start_bg 'TESSERA_DATABASE_URL=$RESTORE_DATABASE_URL tessera-cloud start --port 8080' 'listening on'` },
      { glue: `curl -sf -H "Authorization: Bearer $BOOTSTRAP_KEY" http://127.0.0.1:8080/api/v1/resource-sets | jq -r '"restored database has: " + .items[0].name'` },
      { glue: `__stop_last; for db in tessera_docs_ops tessera_docs_restore; do psql -qX ${PG_ADMIN} -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"; done` },
    ],
    timeoutMs: 150_000,
    expect: [
      /"issuer":"http:\/\/127\.0\.0\.1:8080"/,
      /\{"status":"ready"\}/,
      /"name":"default"/,
      /^Admin key ci-readonly \(/m,
      /"retiredKid"/,
      /"kind": "signing-key.rotate"/,
      /^restored admin keys: bootstrap,ci-readonly,recovery$/m,
      /^replica 8081 sees: default$/m,
      /^restored database has: default$/m,
    ],
  },
  {
    name: 'edge-api.md: the complete example, then the caller\'s address behind proxies',
    cwd: 'project',
    replace: [
      ...PASTE_KEY,
      ['/tmp/docs-edge', '$WALK_DIR/docs-edge'],
      // The registry's jose@6 is the copy the project installed: tests talk only to loopback.
      ['npm install jose@6', 'npm install --offline --no-audit --no-fund "$REPO_ROOT/node_modules/jose"'],
    ],
    steps: [
      { file: EDGE_API, starts: 'tessera-cloud start --port 18181', run: 'background', ready: 'listening on' },
      { file: EDGE_API, starts: 'export TESSERA_URL=http://127.0.0.1:18181', run: 'sh' },
      { file: EDGE_API, starts: '// Stands in for your identity provider', run: 'save', as: 'make-issuer-key.mjs' },
      { file: EDGE_API, starts: 'node make-issuer-key.mjs', run: 'sh' },
      { file: EDGE_API, starts: 'curl -s -X POST "$TESSERA_URL/api/v1/trust-providers"', run: 'sh' },
      { file: EDGE_API, starts: 'curl -s -X POST "$TESSERA_URL/api/v1/client-workloads"', run: 'sh' },
      { file: EDGE_API, starts: 'curl -s -X POST "$TESSERA_URL/api/v1/server-workloads"', run: 'sh' },
      { file: EDGE_API, starts: 'curl -s -X POST "$TESSERA_URL/api/v1/credential-providers"', run: 'sh' },
      { file: EDGE_API, starts: 'curl -s -X POST "$TESSERA_URL/api/v1/access-policies"', run: 'sh' },
      { file: EDGE_API, starts: '// A minimal edge API client', run: 'save', as: 'edge-client.mjs' },
      { file: EDGE_API, starts: 'node edge-client.mjs', run: 'sh' },
      { file: EDGE_API, starts: 'curl -s -H "Authorization: Bearer $TESSERA_ADMIN_KEY" "$TESSERA_URL/api/v1/request-metrics', run: 'sh' },
      { file: EDGE_API, starts: 'curl -s -X POST "$TESSERA_URL/edge/v1/attest"', run: 'sh' },
      { glue: '__stop_last' },
      { file: EDGE_API, starts: 'tessera-cloud start --port 18181', run: 'background', ready: 'listening on', again: true, replace: [['--port 18181', '--port 18181 --trusted-proxy 127.0.0.1']] },
      { file: EDGE_API, starts: 'curl -s -X POST "$TESSERA_URL/edge/v1/attest"', run: 'sh', again: true },
      { glue: '__stop_last' },
      {
        file: EDGE_API,
        starts: 'tessera-cloud start --port 18181',
        run: 'background',
        ready: 'listening on',
        again: true,
        replace: [['--port 18181', '--port 18181 --trusted-proxy 127.0.0.1 --trusted-proxy 203.0.113.0/24']],
      },
      { file: EDGE_API, starts: 'curl -s -X POST "$TESSERA_URL/edge/v1/attest"', run: 'sh', again: true },
    ],
    expect: [
      /"token": "sk_test_example_4242"/,
      /^metrics: \{"requests":1,"duplicate":false,"reportIntervalSeconds":10\}$/m,
      /"latencyMsSum": 87,\s+"latencyBuckets": \[\s+0,\s+0,\s+0,\s+0,\s+0,\s+0,\s+1,/,
      /"typ":"tessera-edge\+jwt"/,
      /"sourceIp": "127\.0\.0\.1"[\s\S]*"sourceIp": "203\.0\.113\.9"[\s\S]*"sourceIp": "198\.51\.100\.23"/,
    ],
  },
  {
    name: 'providers.md: a plugin with a custom trust and credential provider, both forms',
    cwd: 'project',
    replace: [...PASTE_KEY, ['/tmp/plugin-data', '$WALK_DIR/plugin-data']],
    steps: [
      { file: PROVIDERS, starts: '// Two custom providers for Tessera', run: 'save', as: 'my-provider.js' },
      { file: PROVIDERS, starts: 'export function register(registry)', run: 'save', as: 'register-form.js' },
      { glue: "grep -v '^export default' my-provider.js | cat - register-form.js > my-provider-register.js  # the register form of the same plugin" },
      { glue: 'echo \'{"type": "module"}\' > package.json' },
      { file: PROVIDERS, starts: 'tessera-cloud start --plugin ./my-provider.js', run: 'background', ready: 'listening on' },
      { glue: '__stop_last' },
      { file: PROVIDERS, starts: 'tessera-cloud start --port 18182', run: 'background', ready: 'listening on' },
      { glue: 'export TESSERA_URL=http://127.0.0.1:18182 TESSERA_ADMIN_KEY=$BOOTSTRAP_KEY  # "with TESSERA_URL and TESSERA_ADMIN_KEY set"' },
      { file: PROVIDERS, starts: "printf %s 'enrol_7Qf2_box-1' | sha256sum", run: 'sh' },
      { file: PROVIDERS, starts: 'curl -s -X POST "$TESSERA_URL/api/v1/trust-providers" \\\n  -H "Authorization: Bearer $TESSERA_ADMIN_KEY" -H \'content-type: application/json\' \\\n  -d \'{"name": "enrolment"', run: 'sh' },
      { file: PROVIDERS, starts: 'curl -s -X POST "$TESSERA_URL/api/v1/credential-providers" \\\n  -H "Authorization: Bearer $TESSERA_ADMIN_KEY" -H \'content-type: application/json\' \\\n  -d \'{"name": "box-hmac"', run: 'sh' },
      { file: PROVIDERS, starts: 'curl -s -X POST "$TESSERA_URL/api/v1/credential-providers" \\\n  -H "Authorization: Bearer $TESSERA_ADMIN_KEY" -H \'content-type: application/json\' \\\n  -d \'{"name": "bad-hmac"', run: 'sh' },
      { file: PROVIDERS, starts: 'curl -s -X POST "$TESSERA_URL/api/v1/trust-providers" \\\n  -H "Authorization: Bearer $TESSERA_ADMIN_KEY" -H \'content-type: application/json\' \\\n  -d \'{"name": "bad-enrolment"', run: 'sh' },
      { glue: '__stop_last' },
      {
        file: PROVIDERS,
        starts: 'tessera-cloud start --port 18182',
        run: 'background',
        ready: 'listening on',
        again: true,
        replace: [['./my-provider.js', './my-provider-register.js']],
      },
      { glue: `curl -sf -H "Authorization: Bearer $TESSERA_ADMIN_KEY" "$TESSERA_URL/api/v1/credential-providers" | jq -r '"register form serves: " + ([.items[].type] | join(","))'` },
      { glue: `__stop_last\n${BAD_PLUGINS}` },
      { file: PROVIDERS, starts: '$ tessera-cloud start --port 18182', run: 'transcript', vary: [/\/srv\/billing\/\S*/] },
    ],
    expect: [
      /^7d2993997d0940514f02d6dee21d1e541668b9687ca927f4ba210aec25a3559a {2}-$/m,
      /"type": "enrolment-token"/,
      /"type": "hmac-token"/,
      /"message": "Invalid request — \/config\/lifetimeSeconds: must be <= 3600"/,
      /"message": "Invalid request — \/config: tokens: names must be unique"/,
      /^register form serves: hmac-token$/m,
    ],
  },
  {
    name: 'sdk.md: zero code, init(), a denied call, withTessera, explicit mode, the S3 client',
    cwd: 'project',
    replace: [
      ["'https://tessera.example.com'", 'process.env.TESSERA'],
      ['https://tessera.example.com', '$TESSERA'],
      ['https://payments.internal', 'http://127.0.0.1:9090'],
    ],
    steps: [
      { glue: startCloud(18183) },
      { glue: 'export TESSERA=http://127.0.0.1:18183; node "$REPO_ROOT/examples/quickstart/walkthrough/identity.mjs"  # the workload\'s OIDC token' },
      {
        glue: [
          ADMIN_HELPER,
          `TRUST=$(admin trust-providers "{\\"name\\":\\"idp\\",\\"type\\":\\"oidc\\",\\"config\\":{\\"issuer\\":\\"https://idp.walkthrough.local\\",\\"jwks\\":$(cat .walkthrough/jwks.json),\\"algorithms\\":[\\"ES256\\"]}}")`,
          `CLIENT=$(admin client-workloads '{"name":"my-script","identities":[{"claim":"oidc.subject","value":"my-script"}]}')`,
          `PAYMENTS=$(admin server-workloads '{"name":"payments","scheme":"http","host":"127.0.0.1","port":9090,"injection":{"kind":"header","name":"authorization","format":"Bearer {token}"}}')`,
          `REFUNDS=$(admin server-workloads '{"name":"refunds","scheme":"http","host":"127.0.0.1","port":9091,"injection":{"kind":"header","name":"authorization","format":"Bearer {token}"}}')`,
          // Refunds only for workloads that attest through CI: a policy this workload does not meet.
          `CI=$(admin trust-providers "{\\"name\\":\\"ci\\",\\"type\\":\\"oidc\\",\\"config\\":{\\"issuer\\":\\"https://ci.walkthrough.local\\",\\"jwks\\":$(cat .walkthrough/jwks.json),\\"algorithms\\":[\\"ES256\\"]}}")`,
          `DB=$(admin server-workloads '{"name":"db","scheme":"https","host":"db.internal","port":5432,"injection":{"kind":"basic"}}')`,
          `KEY=$(admin credential-providers '{"name":"payments-key","type":"api-key","secrets":{"apiKey":"sk_sdk_docs"}}')`,
          `BASIC=$(admin credential-providers '{"name":"db-basic","type":"basic","config":{"username":"svc-db"},"secrets":{"password":"db-password"}}')`,
          `admin access-policies "{\\"name\\":\\"to-payments\\",\\"clientWorkloadIds\\":[\\"$CLIENT\\"],\\"serverWorkloadId\\":\\"$PAYMENTS\\",\\"trustProviderIds\\":[\\"$TRUST\\"],\\"credentialProviderId\\":\\"$KEY\\"}" > /dev/null`,
          `admin access-policies "{\\"name\\":\\"refunds-from-ci\\",\\"clientWorkloadIds\\":[\\"$CLIENT\\"],\\"serverWorkloadId\\":\\"$REFUNDS\\",\\"trustProviderIds\\":[\\"$CI\\"],\\"credentialProviderId\\":\\"$KEY\\"}" > /dev/null`,
          `admin access-policies "{\\"name\\":\\"to-db\\",\\"clientWorkloadIds\\":[\\"$CLIENT\\"],\\"serverWorkloadId\\":\\"$DB\\",\\"trustProviderIds\\":[\\"$TRUST\\"],\\"credentialProviderId\\":\\"$BASIC\\"}" > /dev/null`,
        ].join('\n'),
      },
      { glue: `__start_bg 'node "$REPO_ROOT/examples/quickstart/walkthrough/echo-api.mjs"' 'echo API on'  # payments.internal` },
      {
        glue: [
          'export TESSERA_OIDC_TOKEN_FILE=.walkthrough/token TESSERA_CLOUD_URL=$TESSERA  # what the platform and the deployment give the workload',
          `npm init -y > /dev/null && npm pkg set type=module scripts.start='node app.js'`,
          `echo "console.log('app.js:', await (await fetch('http://127.0.0.1:9090/v1/charges')).text())" > app.js`,
        ].join('\n'),
      },
      { file: SDK, starts: 'TESSERA_CLOUD_URL=https://tessera.example.com node --import @tessera/sdk/register app.js', run: 'sh' },
      { file: SDK, starts: "import { init, shutdown } from '@tessera/sdk';", run: 'node', after: "console.log('init() and shutdown(): done');" },
      {
        file: SDK,
        starts: 'try {',
        run: 'node',
        replace: [['http://127.0.0.1:9090', 'http://127.0.0.1:9091']],
        before: "import { init, shutdown, TesseraAccessDeniedError } from '@tessera/sdk';\nawait init({ cloudUrl: process.env.TESSERA });",
        after: 'await shutdown();',
      },
      {
        file: SDK,
        starts: "import { withTessera } from '@tessera/sdk';",
        run: 'node',
        driver: [
          "import { shutdown } from '@tessera/sdk';",
          "import requestStyle, { handler } from './sample.mjs';",
          "console.log('Lambda style:', JSON.stringify(await handler({}, { getRemainingTimeInMillis: () => 3000 })));",
          "console.log('Request style:', (await requestStyle(new Request('http://127.0.0.1/'))).status);",
          'await shutdown();',
        ].join('\n'),
      },
      {
        file: SDK,
        starts: "import { Tessera } from '@tessera/sdk';",
        run: 'node',
        before: "const connect = (options) => console.log('connect as', options.user, 'with a', options.password.length, 'character password');",
        after: "console.log('explicit mode: closed');",
      },
      {
        file: SDK,
        starts: 'const s3 = new S3Client',
        run: 'node',
        before: "import { S3Client } from '@aws-sdk/client-s3';",
        after: "console.log('S3 client for', await s3.config.region());",
      },
    ],
    expect: [
      /^app\.js: authorization: Bearer sk_sdk_docs\n[\s\S]*^app\.js: authorization: Bearer sk_sdk_docs$/m,
      /^init\(\) and shutdown\(\): done$/m,
      /^denied: trust_provider_mismatch$/m,
      /^Lambda style: \{"statusCode":200\}$/m,
      /^Request style: 200$/m,
      /^connect as svc-db with a 11 character password$/m,
      /^explicit mode: closed$/m,
      /^S3 client for eu-west-1$/m,
    ],
  },
  {
    name: 'cloud-aws.md: the Tessera side of aws-sts, aws-ec2-instance-identity and aws-iam',
    cwd: 'project',
    replace: [...PASTE_KEY, ['https://tessera.example.com', 'http://127.0.0.1:18184']],
    steps: [
      { glue: startCloud(18184, 'data-1') },
      { file: AWS, starts: 'export TESSERA=https://tessera.example.com', run: 'sh' },
      { file: AWS, starts: 'KEY=$(admin credential-providers', run: 'sh' },
      { file: AWS, starts: 'SERVER=$(admin server-workloads', run: 'sh' },
      { glue: FAKE_AWS_CERTIFICATES },
      { file: AWS, starts: `TRUST=$(admin trust-providers "$(node -e '\n`, run: 'sh' },
      { file: AWS, starts: `CLIENT=$(admin client-workloads '{"name":"billing","identities":[{"claim":"aws.accountId","value":"123456789012"},{"claim":"aws.imageId"`, run: 'sh' },
      { file: AWS, starts: 'admin access-policies', run: 'sh' },
      { glue: `echo; TESSERA_URL=$TESSERA; ${list('access-policies')}` },
      { glue: `__stop_last; ${startCloud(18184, 'data-2')}  # the one-script version, on a fresh control plane` },
      { file: AWS, starts: 'export TESSERA=https://tessera.example.com', run: 'sh', again: true },
      { glue: FAKE_AWS_CERTIFICATES },
      { file: AWS, starts: `TRUST=$(admin trust-providers "$(node -e 'console.log`, run: 'sh' },
      { glue: `__stop_last; ${startCloud(18184, 'data-3')}  # aws-iam, on a fresh control plane` },
      { file: AWS, starts: 'export TESSERA=https://tessera.example.com', run: 'sh', again: true },
      { file: AWS, starts: `TRUST=$(admin trust-providers '{"name":"aws-prod","type":"aws-iam"`, run: 'sh' },
      { file: AWS, starts: `CLIENT=$(admin client-workloads '{"name":"billing","identities":[{"claim":"aws.accountId","value":"123456789012"},{"claim":"aws.roleArn"`, run: 'sh' },
      { glue: `${list('trust-providers')}\n${list('client-workloads')}` },
    ],
    expect: [
      /^access-policies: billing-reads-s3$/m,
      /^sub for the role's trust policy: resource-set:[0-9a-f-]{36}:client-workload:[0-9a-f-]{36}$/m,
      /^trust-providers: aws-prod \(aws-iam\)$/m,
      /^client-workloads: billing$/m,
    ],
  },
  {
    name: 'cloud-gcp.md: the Tessera side of gcp-identity-token and gcp-workload-identity-federation',
    cwd: 'project',
    replace: [...PASTE_KEY, ['https://tessera.example.com', 'http://127.0.0.1:18185']],
    steps: [
      { glue: startCloud(18185) },
      { file: GCP, starts: 'export TESSERA_URL=https://tessera.example.com', run: 'sh' },
      { glue: 'export PROJECT_ID=acme-prod PROJECT_NUMBER=123456789012  # what the gcloud command of the page prints' },
      { file: GCP, starts: 'curl -s -X POST "$TESSERA_URL/api/v1/trust-providers"', run: 'sh' },
      { file: GCP, starts: 'curl -s -X POST "$TESSERA_URL/api/v1/credential-providers"', run: 'sh' },
      { glue: list('access-policies') },
    ],
    expect: [
      /"type": "gcp-identity-token"/,
      /"type": "gcp-workload-identity-federation"/,
      /"audience": "\/\/iam\.googleapis\.com\/projects\/123456789012\/locations\/global\/workloadIdentityPools\/tessera-pool\/providers\/tessera-cloud"/,
      /^access-policies: billing-to-gcs$/m,
    ],
  },
  {
    name: 'cloud-azure.md: the Tessera side of azure-managed-identity and azure-workload-identity-federation',
    cwd: 'project',
    replace: [...PASTE_KEY, ['https://tessera.example.com', 'http://127.0.0.1:18186']],
    steps: [
      { glue: startCloud(18186) },
      { file: AZURE, starts: 'TESSERA_URL=https://tessera.example.com', run: 'sh' },
      { file: AZURE, starts: '{"name": "azure-prod", "type": "azure-managed-identity"', run: 'save', as: 'trust-provider.json' },
      { file: AZURE, starts: 'curl -s -X POST "$TESSERA_URL/api/v1/trust-providers"', run: 'sh' },
      { glue: 'echo' },
      { file: AZURE, starts: '{"name": "billing", "identities": [{"claim": "azure.objectId"', run: 'save', as: 'client-workload.json' },
      { file: AZURE, starts: '{"name": "blob-reader"', run: 'save', as: 'credential-provider.json' },
      { file: AZURE, starts: '{"name": "acmedata-blob"', run: 'save', as: 'server-workload.json' },
      {
        glue: [
          POST_FILE,
          'post client-workloads client-workload.json',
          'post credential-providers credential-provider.json',
          'post server-workloads server-workload.json',
        ].join('\n'),
      },
      { glue: `${list('trust-providers')}\n${list('credential-providers')}` },
    ],
    expect: [
      /^trust-providers: azure-prod \(azure-managed-identity\)$/m,
      /^credential-providers: blob-reader \(azure-workload-identity-federation\)$/m,
      /"name":"acmedata-blob"/,
      /"name":"billing"/,
    ],
  },
  {
    name: 'cloud-gcp.md: the gcloud commands, as far as gcloud goes without an account',
    cwd: 'project',
    requires: ['gcloud'],
    replace: [['https://tessera.example.com/.well-known', 'http://127.0.0.1:18187/.well-known']],
    steps: [
      { glue: `${startCloud(18187)}  # serves the JWKS the page downloads\n${GCLOUD_WITHOUT_ACCOUNT}` },
      { file: GCP, starts: 'export PROJECT_ID=acme-prod', run: 'sh' },
      { glue: 'export PROJECT_NUMBER=123456789012 WORKLOAD_SUBJECT=resource-set:01a20928-f1b4-7455-8e3f-d647cd1109d0:client-workload:01a20929-5a93-70da-b594-4afd84a44aa5  # what a signed-in gcloud and step 1 give' },
      { file: GCP, starts: 'gcloud services enable', run: 'sh' },
      { file: GCP, starts: 'curl -s https://tessera.example.com/.well-known/jwks.json > tessera-jwks.json', run: 'sh' },
      { file: GCP, starts: 'gcloud iam service-accounts add-iam-policy-binding', run: 'sh' },
      { file: GCP, starts: 'gcloud storage buckets add-iam-policy-binding', run: 'sh' },
      { glue: `jq -e '.keys[0].kid' tessera-jwks.json > /dev/null\n${accepted('gcloud')}` },
    ],
    expect: [
      /^accepted: gcloud projects describe acme-prod --format=value\(projectNumber\)$/m,
      /^accepted: gcloud services enable iam\.googleapis\.com/m,
      /^accepted: gcloud iam workload-identity-pools create tessera-pool /m,
      /^accepted: gcloud iam workload-identity-pools providers create-oidc tessera-cloud .*--allowed-audiences=\/\/iam\.googleapis\.com\/projects\/123456789012\//m,
      /^accepted: gcloud iam workload-identity-pools providers update-oidc tessera-cloud .*--jwk-json-path=tessera-jwks\.json$/m,
      /^accepted: gcloud iam service-accounts add-iam-policy-binding /m,
      /^accepted: gcloud storage buckets add-iam-policy-binding gs:\/\/acme-reports --member=serviceAccount:/m,
      /^accepted: gcloud storage buckets add-iam-policy-binding gs:\/\/acme-reports --role=roles\/storage\.objectViewer --member=principal:/m,
      /^CLI: Google Cloud SDK \d+/m,
    ],
  },
  {
    name: 'cloud-aws.md: the aws commands as far as the AWS CLI goes without an account, and the certificate check against a loopback IMDSv2',
    cwd: 'project',
    requires: ['aws', 'openssl'],
    replace: [['http://169.254.169.254', '$IMDS']],
    steps: [
      { glue: AWS_WITHOUT_ACCOUNT },
      { file: AWS, starts: 'aws iam create-open-id-connect-provider', run: 'sh' },
      { file: AWS, starts: '{\n  "Version": "2012-10-17",\n  "Statement": [\n    {\n      "Effect": "Allow",\n      "Principal": { "Federated"', run: 'save', as: 'trust-policy.json' },
      { file: AWS, starts: 'aws iam create-role', run: 'sh' },
      { glue: AWS_IMDS },
      { file: AWS, starts: 'TOKEN=$(curl -sX PUT http://169.254.169.254', run: 'sh' },
      { glue: accepted('aws') },
    ],
    expect: [
      /^accepted: aws iam create-open-id-connect-provider --url https:\/\/tessera\.example\.com --client-id-list sts\.amazonaws\.com$/m,
      /^accepted: aws iam create-role --role-name tessera-billing-reader --assume-role-policy-document file:\/\/trust-policy\.json$/m,
      /^accepted: aws iam put-role-policy --role-name tessera-billing-reader --policy-name read-billing-reports --policy-document /m,
      /"accountId" ?: ?"123456789012"/,
      /^Verification successful$/m,
      /^CLI: aws-cli\/\d+/m,
    ],
  },
  {
    name: 'cloud-aws.md on an EC2 instance: the zero-code start and init() attest with the instance identity (loopback IMDSv2)',
    cwd: 'project',
    replace: [...PASTE_KEY, ['https://tessera.example.com', 'http://127.0.0.1:18184']],
    steps: [
      { glue: startCloud(18184) },
      { glue: `${AWS_IMDS}\nexport TESSERA_AWS_IMDS_ENDPOINT=$IMDS` },
      { file: AWS, starts: 'export TESSERA=https://tessera.example.com', run: 'sh', again: true },
      { file: AWS, starts: `TRUST=$(admin trust-providers "$(node -e 'console.log`, run: 'sh', again: true },
      { glue: stubApp('app.mjs') },
      { file: AWS, starts: 'TESSERA_CLOUD_URL=https://tessera.example.com TESSERA_COLLECTORS=aws-ec2-instance-identity', run: 'sh' },
      { file: AWS, starts: 'TESSERA_CLOUD_URL=https://tessera.example.com TESSERA_COLLECTORS=aws-ec2-instance-identity', nth: 2, run: 'sh' },
      {
        file: AWS,
        starts: "import { init } from '@tessera/sdk';\nimport { createAwsEc2InstanceIdentityCollector }",
        run: 'node',
        after: "const { shutdown } = await import('@tessera/sdk');\nawait shutdown();",
      },
      { glue: attestations('TESSERA') },
    ],
    expect: [/^app\.mjs: started$/m, /^(attest: allow aws-ec2-instance-identity\n){3}/m],
  },
  {
    name: 'cloud-gcp.md on a Compute Engine VM: the zero-code start and init() attest with the identity token (loopback metadata server)',
    cwd: 'project',
    replace: [...PASTE_KEY, ['https://tessera.example.com', 'http://127.0.0.1:18185']],
    steps: [
      { glue: startCloud(18185) },
      {
        glue: [
          // The VM's metadata server, on the port the page's collector object names, and Google's keys that sign its tokens.
          `__start_bg 'METADATA_PORT=8080 node "$REPO_ROOT/test/e2e/support/cloud-fakes.mjs" gcp-metadata' '"metadata"'`,
          `export TESSERA_GCP_METADATA_ENDPOINT=$(${fakesField('metadata', 'metadata')}); GOOGLE_KEYS=$(${fakesField('jwksUri', 'metadata')})`,
        ].join('\n'),
      },
      { file: GCP, starts: 'export TESSERA_URL=https://tessera.example.com', run: 'sh', again: true },
      {
        file: GCP,
        starts: 'curl -s -X POST "$TESSERA_URL/api/v1/trust-providers"',
        run: 'sh',
        again: true,
        // The stand-in's keys instead of Google's certs endpoint.
        replace: [['"config": {"projectIds": ["acme-prod"]}', '"config": {"projectIds": ["acme-prod"], "jwksUri": "\'"$GOOGLE_KEYS"\'"}']],
      },
      { glue: stubApp('app.js') },
      { file: GCP, starts: 'TESSERA_CLOUD_URL=https://tessera.example.com TESSERA_COLLECTORS=gcp-identity-token', run: 'sh' },
      {
        file: GCP,
        starts: 'import { createGcpIdentityTokenCollector }',
        run: 'node',
        before: "import { init, shutdown } from '@tessera/sdk';",
        after: 'await shutdown();',
      },
      { glue: attestations('TESSERA_URL') },
    ],
    expect: [/^app\.js: started$/m, /^(attest: allow gcp-identity-token\n){2}/m],
  },
  {
    name: 'cloud-azure.md on an Azure VM: the zero-code start and init() attest with the managed identity (loopback IMDS)',
    cwd: 'project',
    replace: [...PASTE_KEY, ['https://tessera.example.com', 'http://127.0.0.1:18186']],
    steps: [
      { glue: startCloud(18186) },
      {
        // The VM's IMDS, handing out tokens of the page's user-assigned identity.
        glue: `${azureImds({
          clientId: 'b7e4f1a0-2c3d-4e5f-8a9b-0c1d2e3f4a5b',
          objectId: '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f',
          resourceId: '/subscriptions/8d2a9f0e-4b1c-4e3a-9f5d-1a2b3c4d5e6f/resourceGroups/payments-prod/providers/Microsoft.ManagedIdentity/userAssignedIdentities/billing-identity',
        })}\nexport TESSERA_AZURE_IMDS_ENDPOINT=$IMDS`,
      },
      { file: AZURE, starts: 'TESSERA_URL=https://tessera.example.com', run: 'sh', again: true },
      { file: AZURE, starts: '{"name": "azure-prod", "type": "azure-managed-identity"', run: 'save', as: 'trust-provider.json' },
      { glue: `jq --arg keys "$ENTRA_KEYS" '.config.jwksUri = $keys' trust-provider.json > t && mv t trust-provider.json  # the stand-in's keys instead of login.microsoftonline.com` },
      { file: AZURE, starts: 'curl -s -X POST "$TESSERA_URL/api/v1/trust-providers"', run: 'sh', again: true },
      { file: AZURE, starts: '{"name": "billing", "identities": [{"claim": "azure.objectId"', run: 'save', as: 'client-workload.json' },
      { glue: `echo; ${POST_FILE}\npost client-workloads client-workload.json\n${stubApp('app.js')}` },
      { file: AZURE, starts: 'TESSERA_CLOUD_URL=https://tessera.example.com \\\nTESSERA_COLLECTORS=azure-managed-identity', run: 'sh' },
      { file: AZURE, starts: 'TESSERA_CLOUD_URL=https://tessera.example.com \\\nTESSERA_COLLECTORS=azure-managed-identity', nth: 2, run: 'sh' },
      {
        file: AZURE,
        starts: "import { init } from '@tessera/sdk';\nimport { createAzureManagedIdentityCollector }",
        run: 'node',
        after: "const { shutdown } = await import('@tessera/sdk');\nawait shutdown();",
      },
      { glue: attestations('TESSERA_URL') },
    ],
    expect: [/^app\.js: started$/m, /^(attest: allow azure-managed-identity\n){3}/m],
  },
  {
    name: 'cloud-azure.md: the az commands, as far as the Azure CLI goes without an account',
    cwd: 'project',
    requires: ['az'],
    steps: [
      { glue: AZ_WITHOUT_ACCOUNT },
      { file: AZURE, starts: 'TENANT_ID=$(az account show', run: 'sh' },
      { file: AZURE, starts: 'TESSERA_APP_ID=$(az ad app create', run: 'sh' },
      { file: AZURE, starts: 'az vm identity assign -g payments-prod -n billing-vm-1 ', run: 'sh' },
      { file: AZURE, starts: 'az identity create', run: 'sh' },
      { glue: 'TESSERA_URL=https://tessera.example.com' },
      { file: AZURE, starts: 'APP_ID=$(az ad app create', run: 'sh' },
      { glue: 'APP_ID=5e8d1c2b-7a6f-4e3d-9c1b-0a9f8e7d6c5b SUBSCRIPTION_ID=8d2a9f0e-4b1c-4e3a-9f5d-1a2b3c4d5e6f  # what a signed-in az prints' },
      { file: AZURE, starts: 'CLIENT_WORKLOAD_ID=6f1c0e5e', run: 'sh' },
      { file: AZURE, starts: 'az identity federated-credential create', run: 'sh' },
      { file: AZURE, starts: 'az role assignment create', run: 'sh' },
      { glue: `jq -e '.subject == "resource-set:01a20928-f1b4-7455-8e3f-d647cd1109d0:client-workload:6f1c0e5e-1111-4c1e-9e55-000000000001"' fic.json > /dev/null\n${accepted('az')}` },
    ],
    expect: [
      /^CLI: azure-cli +\d+/m,
      /^accepted: az account show --query tenantId -o tsv$/m,
      /^accepted: az ad app create --display-name tessera-control-plane /m,
      /^accepted: az ad sp create --id/m,
      /^accepted: az webapp identity assign /m,
      /^accepted: az functionapp identity assign /m,
      /^accepted: az identity show -g payments-prod -n billing-identity --query principalId -o tsv$/m,
      /^accepted: az ad app federated-credential create --id [0-9a-f-]{36} --parameters @fic\.json$/m,
      /^accepted: az identity federated-credential create --name tessera-billing /m,
      /^accepted: az role assignment create /m,
    ],
  },
  {
    name: 'cloud-azure.md: the managed-identity token check against a loopback Azure IMDS',
    cwd: 'project',
    replace: [['http://169.254.169.254', '$IMDS']],
    steps: [
      {
        // A VM's IMDS handing out managed-identity tokens, and the app id the page's `az ad app create` prints.
        glue: `${azureImds({
          clientId: 'b7e4f1a0-2c3d-4e5f-8a9b-0c1d2e3f4a5b',
          objectId: '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f',
          resourceId: '/subscriptions/8d2a9f0e-4b1c-4e3a-9f5d-1a2b3c4d5e6f/resourceGroups/payments-prod/providers/Microsoft.Compute/virtualMachines/billing-vm-1',
        })}\nTESSERA_APP_ID=0a6c2d1e-5f7b-4c8d-9e0f-1a2b3c4d5e6f`,
      },
      { file: AZURE, starts: 'curl -s -H Metadata:true', run: 'sh' },
    ],
    expect: [/"resource": "api:\/\/0a6c2d1e-5f7b-4c8d-9e0f-1a2b3c4d5e6f"/, /"client_id": "b7e4f1a0-2c3d-4e5f-8a9b-0c1d2e3f4a5b"/, /"expires_on": "\d+"/],
  },
  {
    name: 'install.md: the tarballs, installed into a service outside the repository',
    cwd: 'repo',
    replace: [
      // The same npm flags as the install test.
      ['npm install /path/to/tessera', `npm install ${NPM_INSTALL_FLAGS.join(' ')} /path/to/tessera`],
      ['/path/to/tessera', '$REPO_ROOT'],
    ],
    steps: [
      { file: INSTALL, starts: 'npm run pack', run: 'sh' },
      { file: INSTALL, starts: '$ ls dist-packages', run: 'transcript' },
      { glue: 'mkdir "$WALK_DIR/my-service" && cd "$WALK_DIR/my-service" && npm init -y > /dev/null  # your service' },
      { file: INSTALL, starts: 'npm install /path/to/tessera/dist-packages/tessera-sdk', run: 'sh' },
      { file: INSTALL, starts: 'npm ls @tessera/sdk', run: 'sh' },
    ],
    timeoutMs: 150_000,
    expect: [/^my-service@1\.0\.0 .*\n\W+@tessera\/providers@0\.1\.0\n\W+@tessera\/sdk@0\.1\.0$/m, /^@tessera\/sdk loads on Node\.js v24\.\d+\.\d+ function$/m],
  },
  {
    name: 'troubleshooting.md: a request without a credential, expired evidence, the audience, the Node.js version, a lost admin key, the clock, a proxy',
    cwd: 'project',
    replace: [
      ['node examples/quickstart/', 'node "$REPO_ROOT"/examples/quickstart/'],
      ['proxy.internal', '127.0.0.1'],
    ],
    steps: [
      { glue: `${startCloud(8080, '.tessera')}\nexport TESSERA=http://127.0.0.1:8080  # the quickstart's control plane, with npm start's data directory` },
      { glue: QUICKSTART_OBJECTS },
      { glue: `__start_bg 'node "$REPO_ROOT/examples/quickstart/walkthrough/echo-api.mjs"' 'echo API on'` },
      { file: TROUBLESHOOTING, starts: 'client() {', run: 'sh' },
      {
        glue: `curl -sf -X PATCH -H "Authorization: Bearer $TESSERA_ADMIN_KEY" -H 'content-type: application/json' "$TESSERA/api/v1/access-policies/$QUICKSTART_POLICY" -d '{"enabled":false}' > /dev/null  # "the quickstart's policy has been disabled"`,
      },
      { file: TROUBLESHOOTING, starts: 'TESSERA_LOG_LEVEL=debug client', run: 'sh' },
      { file: TROUBLESHOOTING, starts: 'curl -s -H "Authorization: Bearer $TESSERA_ADMIN_KEY" "$TESSERA/api/v1/access-policies" | node -p', run: 'sh' },
      { file: TROUBLESHOOTING, starts: 'POLICY=$(', run: 'sh' },
      { file: TROUBLESHOOTING, starts: "TOKEN_LIFETIME='1h ago'", run: 'sh' },
      { file: TROUBLESHOOTING, starts: "node -e 'const { iss, sub, aud, iat, exp }", run: 'sh' },
      { file: TROUBLESHOOTING, starts: 'node examples/quickstart/walkthrough/identity.mjs\nclient', run: 'sh' },
      { file: TROUBLESHOOTING, starts: 'TESSERA=https://tessera.example.com node', run: 'sh' },
      { file: TROUBLESHOOTING, starts: "node -e 'const { iss, sub, aud, iat, exp }", run: 'sh', again: true },
      { file: TROUBLESHOOTING, starts: 'curl -s "$TESSERA/.well-known/openid-configuration"', run: 'sh' },
      { file: TROUBLESHOOTING, starts: 'node examples/quickstart/walkthrough/identity.mjs\nclient', nth: 2, run: 'sh' },
      { file: TROUBLESHOOTING, starts: 'node --version\nwhich -a node', run: 'sh' },
      { file: TROUBLESHOOTING, starts: 'npx tessera-cloud admin-keys create --name recovery --data .tessera', run: 'sh' },
      { file: TROUBLESHOOTING, starts: 'curl -s -D - -o /dev/null', run: 'sh' },
      { file: TROUBLESHOOTING, starts: "curl --noproxy '*'", run: 'sh' },
      { glue: `__start_bg 'node "$REPO_ROOT/test/e2e/support/forward-proxy.mjs"' 'proxy on'  # proxy.internal:3128` },
      { file: TROUBLESHOOTING, starts: 'NODE_USE_ENV_PROXY=1', run: 'sh' },
      { glue: 'cat "$BG_LOG"  # what the proxy saw' },
    ],
    expect: [
      ...shownLines(TROUBLESHOOTING, 'tessera: directory of targets'),
      ...shownLines(TROUBLESHOOTING, 'my-script-to-echo enabled='),
      ...shownLines(TROUBLESHOOTING, 'tessera: the cloud refused this workload\'s evidence {"reason":"evidence_expired"'),
      ...shownLines(TROUBLESHOOTING, 'tessera: the cloud refused this workload\'s evidence {"reason":"evidence_invalid"'),
      /^refused: evidence_expired\n[\s\S]*^authorization: Bearer sk_walkthrough_secret\n[\s\S]*^refused: evidence_invalid\n/m,
      /aud: 'https:\/\/tessera\.example\.com'/,
      /^http:\/\/127\.0\.0\.1:8080\n(?:.*\n)*?authorization: Bearer sk_walkthrough_secret$/m,
      /^v24\.\d+\.\d+$/m,
      /^Admin key recovery \(/m,
      /^date: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r?\ndate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/im,
      /^direct: 200\nthrough the proxy variables: 200\nauthorization: Bearer sk_walkthrough_secret\n/m, // then through the proxy
      /^proxy: CONNECT 127\.0\.0\.1:9090$/m,
    ],
  },
  {
    name: 'production.md: a named admin key with an expiry, a secret rotated in place, the refusals of the last hour',
    cwd: 'project',
    steps: [
      { glue: `${startCloud(18187)}\nexport TESSERA_URL=http://127.0.0.1:18187  # "with TESSERA_URL and TESSERA_ADMIN_KEY set"` },
      { file: PRODUCTION, starts: 'curl -s -X POST "$TESSERA_URL/api/v1/admin-keys"', run: 'sh' },
      {
        glue: [
          `PROVIDER_ID=$(curl -sf -X POST "$TESSERA_URL/api/v1/credential-providers" -H "Authorization: Bearer $TESSERA_ADMIN_KEY" -H 'content-type: application/json' -d '{"name":"payments-api-key","type":"api-key","secrets":{"apiKey":"sk_live_before_rotation"}}' | jq -r .id)`,
          'NEW_API_KEY=sk_live_after_rotation  # from the target\'s console',
        ].join('\n'),
      },
      { file: PRODUCTION, starts: 'curl -s -X PATCH "$TESSERA_URL/api/v1/credential-providers/$PROVIDER_ID"', run: 'sh' },
      {
        // A refusal to count: a workload whose evidence verifies but that no client workload matches.
        glue: [
          'TESSERA=$TESSERA_URL node "$REPO_ROOT/examples/quickstart/walkthrough/identity.mjs" > /dev/null',
          `curl -sf -X POST "$TESSERA_URL/api/v1/trust-providers" -H "Authorization: Bearer $TESSERA_ADMIN_KEY" -H 'content-type: application/json' -d "{\\"name\\":\\"idp\\",\\"type\\":\\"oidc\\",\\"config\\":{\\"issuer\\":\\"https://idp.walkthrough.local\\",\\"jwks\\":$(cat .walkthrough/jwks.json)}}" > /dev/null`,
          `TESSERA_CLOUD_URL=$TESSERA_URL TESSERA_OIDC_TOKEN_FILE=.walkthrough/token node --import @tessera/sdk/register -e '' 2> /dev/null`,
        ].join('\n'),
      },
      { file: PRODUCTION, starts: 'curl -s -H "Authorization: Bearer $TESSERA_ADMIN_KEY" \\\n  "$TESSERA_URL/api/v1/audit-events?outcome=deny', run: 'sh' },
    ],
    expect: [
      /"name": "ci-deploy",\n\s+"role": "editor",\n\s+"expiresAt": "\d{4}-\d\d-\d\dT[\d:]+Z",\n\s+"key": "tsk_…"/,
      /^\{"name":"payments-api-key","secretFields":\["apiKey"\],"updatedAt":"[^"]+"\}$/m,
      /^1 no_client_workload$/m,
    ],
  },
  {
    name: 'docs/README.md: the admin API reference matches the server',
    cwd: 'repo',
    steps: [{ file: DOCS_INDEX, starts: 'npm run docs:api -- --check', run: 'sh' }],
    expect: [],
  },
];

/** Reads a cloud's storage with a credential its token service issued: only that cloud's own services can answer. */
const cloudStorage = (what: string, test: string) =>
  `${what}: needs an account with the cloud; the same request, with a credential from a loopback token service that verifies like the cloud's, to a storage stand-in that accepts only that credential, runs in ${test}`;
const S3 = cloudStorage('reads an object from AWS S3 with keys from AWS STS', 'test/e2e/cloud-aws.test.ts');
const GCS = cloudStorage('lists a Cloud Storage bucket with a token from Google STS and IAM Credentials', 'test/e2e/cloud-gcp.test.ts');
const BLOB = cloudStorage('reads an Azure Storage blob with a token from Entra ID', 'test/e2e/cloud-azure.test.ts');
const AWS_IAM =
  'signs GetCallerIdentity with an instance role\'s keys, which only AWS STS can check; the aws-iam collector and trust provider run against a loopback STS that checks SigV4 in packages/providers/src/trust/aws-iam/aws-iam.test.ts';

const NOT_RUN: NotRun[] = [
  { file: README, starts: 'npm install      #', reason: 'the set-up itself: CI runs `npm ci` and `npm test` on a clean clone; `npm start` runs in the quickstart walk, `npm run demo` in test/e2e/quickstart.test.ts' },
  { file: README, starts: 'TESSERA_CLOUD_URL=https://tessera.example.com \\\nTESSERA_KUBERNETES_TOKEN_FILE', reason: 'needs a Kubernetes service-account token; the demo\'s clients start exactly so (test/e2e/quickstart.test.ts)' },
  { file: QUICKSTART, starts: 'npm install\nnpm run demo', reason: '`npm install` is the set-up CI runs; the demo runs in test/e2e/quickstart.test.ts' },
  { file: DOCS_INDEX, starts: 'npm run docs:api\n', reason: 'rewrites docs/admin-api.md and docs/openapi.json in the checkout; its `--check` form runs here' },
  { file: INSTALL, starts: 'TESSERA_CLOUD_URL=https://tessera.example.com node --import @tessera/sdk/register app.js', reason: 'the SDK guide\'s zero-code start (the sdk.md walk); from an install of these tarballs, test/e2e/install.test.ts runs a service so against a control plane' },
  { file: INSTALL, starts: 'mkdir tessera-control-plane', reason: 'a second install of the same kind as the SDK\'s above (a minute of npm): test/e2e/install.test.ts installs the control plane from the tarballs, runs `npx tessera-cloud --help` and starts it' },
  { file: INSTALL, starts: 'npm install @tessera/sdk', reason: 'the packages are not on a registry yet' },
  { file: INSTALL, starts: 'npm run build && npm publish', reason: 'publishes the packages to the registry' },
  { file: BENCHMARKS, starts: 'npm run bench:edge', reason: 'a benchmark: minutes on both cores; run by hand, and its figures are on the page' },
  { file: BENCHMARKS, starts: 'npm run bench:decision', reason: 'a benchmark: run by hand, and its figures are on the page' },
  { file: BENCHMARKS, starts: 'npm run build\nnpm run bench:sdk ', reason: 'a benchmark: minutes on both cores; run by hand, and its figures are on the page' },
  { file: TESTING, starts: 'npm test ', reason: 'the test suite itself, which this test is part of' },
  { file: TESTING, starts: 'git clone https://github.com/nodejs/undici.git', reason: 'needs a clone of undici and its devDependencies from the network, and ten minutes on both cores; run by hand, and its figures are on the page' },
  { file: BENCHMARKS, starts: 'npm run build\nnode bench/request-metrics.mjs', reason: 'a benchmark: minutes on both cores, and a build of an older release; run by hand, and its figures are on the page' },
  { file: AWS, starts: "import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';", reason: S3 },
  { file: AWS, starts: 'TESSERA_CLOUD_URL=https://tessera.example.com node --import @tessera/sdk/register app.mjs', reason: S3 },
  { file: AWS, starts: '# An EC2 instance with an instance role', reason: AWS_IAM },
  { file: AWS, starts: "import { init } from '@tessera/sdk';\nimport { createAwsIamCollector }", reason: AWS_IAM },
  { file: GCP, starts: "import { init } from '@tessera/sdk';", reason: GCS },
  { file: AZURE, starts: "import { init } from '@tessera/sdk';\n\nawait init({ cloudUrl: 'https://tessera.example.com' });\nconst response = await fetch('https://acmedata", reason: BLOB },  {
    file: PROVIDERS,
    starts: "import { createRemoteJWKSet, jwtVerify } from 'jose';\n\nconst jwks",
    reason: 'a function of the reader\'s API, called with tokens its callers send; the same jose checks (issuer, audience, ES256, resource_set.id) run on workload JWTs of two resource sets in packages/cloud-server/src/edge/workload-jwt-isolation.test.ts',
  },
];

/** The ports the pages use, as written: each must be free while its walk runs. */
const DOCUMENTED_PORTS = [3128, 8080, 8081, 9090, 18181, 18182, 18183, 18184, 18185, 18186, 18187];

const scratch = mkdtempSync(join(tmpdir(), 'tessera-doc-walks-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

beforeAll(async () => {
  const taken: number[] = [];
  for (const port of DOCUMENTED_PORTS) {
    const server = createServer();
    const free = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (free) await new Promise((resolve) => server.close(resolve));
    else taken.push(port);
  }
  if (taken.length > 0) throw new Error(`the docs' commands use ports ${taken.join(', ')} as written, and something on this machine listens there: stop it and run again`);
});

const allBlocks: DocBlock[] = docFiles().flatMap(blocksOf);
const runnable = allBlocks.filter(isRunnable);
const where = (b: DocBlock) => `${b.file}:${b.line}`;

describe('commands and code samples in README.md and docs/', () => {
  it('each runs in a walk below, or is listed as not run with its reason, once', () => {
    const claims = new Map<DocBlock, string[]>();
    const claim = (ref: BlockRef, by: string) => {
      const block = findBlock(ref, allBlocks);
      claims.set(block, [...(claims.get(block) ?? []), by]);
    };
    for (const walk of WALKS) {
      for (const step of walk.steps) if (!('glue' in step) && !step.again && (step.run !== 'save' || isRunnable(findBlock(step, allBlocks, true)))) claim(step, walk.name);
    }
    for (const entry of NOT_RUN) claim(entry, `not run: ${entry.reason}`);
    const unclaimed = runnable.filter((b) => !claims.has(b)).map(where);
    const twice = [...claims].filter(([, by]) => by.length > 1).map(([b, by]) => `${where(b)}: ${by.join(' | ')}`);
    expect(unclaimed, 'blocks no walk runs').toEqual([]);
    expect(twice, 'blocks claimed twice').toEqual([]);
    expect(runnable.length).toBeGreaterThan(50);
  });

  // Longer than any walk's own deadline, so that a stuck walk reports its transcript.
  it.for(WALKS.map((walk) => [walk.name, walk] as const))('%s', { timeout: 180_000 }, async ([, walk], ctx) => {
    const missing = missingTools(...(walk.requires ?? []));
    ctx.skip(missing.length > 0, `needs ${missing.join(', ')}, which this machine does not have`);
    const dir = mkdtempSync(join(scratch, 'walk-'));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    // The walks stand loopback fakes in for the identity providers, token servers and clouds the
    // pages name, so the control planes they start may call loopback.
    const result = await runWalk(walk, allBlocks, { dir, env: baseEnv({ WALK_DIR: dir, REPO_ROOT: ROOT, TESSERA_PROVIDER_EGRESS_ALLOW: LOOPBACK_EGRESS }) });
    const transcript = `${result.stdout}\n--- stderr\n${result.stderr}`;
    expect(result.code, transcript).toBe(0);
    for (const pattern of walk.expect) expect(`${result.stdout}\n${result.stderr}`, transcript).toMatch(pattern);
    // What the shell made of the page's text: its directories, and any printed admin key.
    const expand = (text: string) => text.replaceAll('$WALK_DIR', dir).replaceAll('$REPO_ROOT', ROOT).replaceAll('$BOOTSTRAP_KEY', 'tsk_…');
    expect(checkTranscripts(walk, allBlocks, result.stdout, expand), transcript).toEqual([]);
  });
});
