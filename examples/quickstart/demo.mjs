// Tessera quickstart: `npm run demo` from the repository root.
//
// Starts everything on 127.0.0.1 with the embedded store in a temporary directory: the control
// plane, a stand-in Kubernetes issuer, two protected APIs and two client services that use
// plain fetch under `node --import @tessera/sdk/register`. Configures Tessera through the admin
// API, makes an allowed call to each API, a call denied by policy and one denied by a
// time-window condition, prints the audit trail, and stops everything.
// `--keep-running` leaves the services up for exploring until Ctrl-C.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startControlPlane, startService, stopAll } from './lib/processes.mjs';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const ROOT = here('../../');
const CLI = join(ROOT, 'packages/cloud-server/dist/cli.js');
const keepRunning = process.argv.includes('--keep-running');
const REPORTS_AUDIENCE = 'https://reports.demo.internal';

const bold = (text) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text);
const say = (text = '') => process.stdout.write(`${text}\n`);

const workDir = mkdtempSync(join(tmpdir(), 'tessera-demo-'));
let cleaned = false;
async function cleanUp() {
  if (cleaned) return;
  cleaned = true;
  await stopAll();
  rmSync(workDir, { recursive: true, force: true });
}
process.on('SIGINT', () => void cleanUp().then(() => process.exit(130)));
process.on('SIGTERM', () => void cleanUp().then(() => process.exit(143)));

try {
  await main();
  if (keepRunning) {
    say(`\nEverything keeps running. Press Ctrl-C to stop it and remove ${workDir}.`);
    await new Promise(() => {}); // until a signal
  }
} catch (error) {
  say(`\nThe demo failed: ${error.stack ?? error}`);
  process.exitCode = 1;
} finally {
  await cleanUp();
}

async function main() {
  say(bold('Tessera quickstart: a secretless call, end to end, on this machine'));
  say(`Working directory: ${workDir}\n`);

  const tokenDir = join(workDir, 'tokens');
  mkdirSync(tokenDir);
  const cloud = await startControlPlane(CLI, join(workDir, 'control-plane'));
  say(`  control plane      ${cloud.url}   (embedded SQLite store)`);
  const cluster = await startService('cluster issuer', here('./services/cluster-issuer.mjs'), {
    env: { TOKEN_DIR: tokenDir, AUDIENCE: cloud.url, ACCOUNTS: 'shop/checkout,shop/newsletter' },
  });
  say(`  cluster issuer     ${cluster.issuer}   (stands in for a Kubernetes cluster: projected service-account tokens)`);
  // The payments API's key exists in two places only: the API's own config and Tessera's vault.
  const paymentsKey = `sk_live_${randomBytes(12).toString('hex')}`;
  const payments = await startService('payments API', here('./services/payments-api.mjs'), { env: { PAYMENTS_API_KEY: paymentsKey } });
  say(`  payments API       ${payments.url}   (accepts only its API key)`);
  const reports = await startService('reports API', here('./services/reports-api.mjs'), { env: { TESSERA_ISSUER: cloud.url, AUDIENCE: REPORTS_AUDIENCE } });
  say(`  reports API        ${reports.url}   (accepts only JWTs signed by the control plane)`);

  say(`\n${bold('Configuring Tessera through the admin API')} (${cloud.url}/api/v1, bootstrap admin key)`);
  const admin = adminClient(cloud.url, cloud.adminKey);
  const clusterTrust = await admin.create('trust-providers', { name: 'demo-cluster', type: 'kubernetes-service-account', config: { issuer: cluster.issuer, discovery: true } });
  const ciTrust = await admin.create('trust-providers', { name: 'github-ci', type: 'github-actions', config: { repositoryOwner: 'example-org' } });
  const checkout = await admin.create('client-workloads', { name: 'checkout', identities: [{ claim: 'kubernetes.serviceAccount', value: 'checkout' }] });
  const newsletter = await admin.create('client-workloads', { name: 'newsletter', identities: [{ claim: 'kubernetes.serviceAccount', value: 'newsletter' }] });
  const bearer = { kind: 'header', name: 'authorization', format: 'Bearer {token}' };
  const paymentsApi = await admin.create('server-workloads', { name: 'payments-api', ...origin(payments.url), injection: bearer });
  const reportsApi = await admin.create('server-workloads', { name: 'reports-api', ...origin(reports.url), injection: bearer });
  const apiKey = await admin.create('credential-providers', { name: 'payments-api-key', type: 'api-key', secrets: { apiKey: paymentsKey } });
  const jwt = await admin.create('credential-providers', { name: 'reports-jwt', type: 'workload-jwt', config: { audience: REPORTS_AUDIENCE, lifetimeSeconds: 300, subjectFormat: 'workload-name' } });
  const hours = await admin.create('access-conditions', { name: 'business-hours', type: 'time-window', config: closedWindowNow() });
  const policy = (name, client, server, trust, credential, extra = {}) =>
    admin.create('access-policies', { name, clientWorkloadIds: [client.id], serverWorkloadId: server.id, trustProviderIds: [trust.id], credentialProviderId: credential.id, ...extra });
  await policy('checkout-pays', checkout, paymentsApi, clusterTrust, apiKey);
  await policy('checkout-reads-reports', checkout, reportsApi, clusterTrust, jwt);
  await policy('newsletter-pays-from-ci-only', newsletter, paymentsApi, ciTrust, apiKey);
  await policy('newsletter-reads-reports-in-hours', newsletter, reportsApi, clusterTrust, jwt, { accessConditionIds: [hours.id] });
  for (const line of admin.created) say(`  + ${line}`);

  say(`\n${bold('Starting the client services')} (plain fetch, node --import @tessera/sdk/register, no secret anywhere)`);
  const client = (account) =>
    startService(account, here('./services/client-service.mjs'), {
      cwd: ROOT,
      execArgv: ['--import', '@tessera/sdk/register'],
      env: {
        TESSERA_CLOUD_URL: cloud.url,
        TESSERA_KUBERNETES_TOKEN_FILE: join(tokenDir, `shop-${account}.token`),
        TESSERA_METRICS_FLUSH_INTERVAL_MS: '1000',
        PAYMENTS_URL: payments.url,
        REPORTS_URL: reports.url,
      },
    });
  const checkoutService = await client('checkout');
  const newsletterService = await client('newsletter');
  say(`  checkout           ${checkoutService.url}   (service account shop/checkout)`);
  say(`  newsletter         ${newsletterService.url}   (service account shop/newsletter)`);

  say(`\n${bold('Calls')}`);
  const cases = [
    ['checkout', checkoutService, 'payments', 'allowed: the API key is injected on the way out'],
    ['checkout', checkoutService, 'reports', 'allowed: a JWT signed by the control plane is injected'],
    ['newsletter', newsletterService, 'payments', 'denied by policy: newsletter may pay only from CI'],
    ['newsletter', newsletterService, 'reports', 'denied by the time-window condition "business-hours"'],
  ];
  let number = 0;
  for (const [name, service, api, expectation] of cases) {
    number += 1;
    const answer = await (await fetch(`${service.url}/call/${api}`)).json();
    say(`${number}. ${name} → ${api} API (${expectation})`);
    say(`   GET ${answer.url}`);
    if (answer.refused) say(`   refused before sending: ${answer.refused.error} ${answer.refused.code} — ${answer.refused.message}`);
    else say(`   ${answer.status} ${JSON.stringify(answer.body)}`);
  }
  say(`   The payments API's key never left Tessera's vault and the control plane's signing key never left the control plane;`);
  say(`   the clients' code and environment hold neither.`);

  say(`\n${bold('Audit trail')} (GET /api/v1/audit-events, oldest first: every attestation and every decision)`);
  const names = new Map([checkout, newsletter, paymentsApi, reportsApi].map((o) => [o.id, o.name]));
  const events = (await admin.get('/api/v1/audit-events?limit=100')).items.filter((e) => e.kind.startsWith('edge.')).reverse();
  for (const event of events) {
    const who = names.get(event.clientWorkloadId) ?? '-';
    const what = names.get(event.serverWorkloadId) ?? '';
    say(`  ${event.time}  ${event.kind.padEnd(16)} ${event.outcome.padEnd(5)} ${who}${what ? ` → ${what}` : ''}${event.reason ? `  (${event.reason})` : ''}`);
  }

  // What the SDKs report about the requests themselves: counts per minute, sent every second here.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  say(`\n${bold('Request metrics')} (GET /api/v1/request-metrics: what the clients' SDKs counted, per minute)`);
  for (const row of (await admin.get('/api/v1/request-metrics?limit=100')).items.reverse()) {
    const what = names.get(row.serverWorkloadId) ?? row.target;
    const status = row.statusClass ? `HTTP ${row.statusClass}` : `(${row.reason})`;
    const plural = row.requests === 1 ? 'request' : 'requests';
    say(`  ${row.time}  ${names.get(row.clientWorkloadId)} → ${what}  ${row.outcome.padEnd(5)} ${status}  ${row.requests} ${plural}, ${(row.latencyMsSum / row.requests).toFixed(1)} ms on average`);
  }

  if (keepRunning) {
    say(`\n${bold('Explore')}`);
    say(`  curl ${checkoutService.url}/call/payments`);
    say(`  curl ${newsletterService.url}/call/reports`);
    say(`  curl -H "Authorization: Bearer ${cloud.adminKey}" ${cloud.url}/api/v1/access-policies`);
  } else {
    say('\nDone: every process is stopped and the temporary directory removed. Run with --keep-running to explore.');
  }
}

function origin(url) {
  const parsed = new URL(url);
  return { scheme: parsed.protocol.slice(0, -1), host: parsed.hostname, port: Number(parsed.port) };
}

/** A window that is closed now: it opens twelve hours from now, for one minute. */
function closedWindowNow() {
  const at = new Date(Date.now() + 12 * 3600_000);
  const hhmm = (d) => `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
  return { timeZone: 'UTC', start: hhmm(at), end: hhmm(new Date(at.getTime() + 60_000)) };
}

function adminClient(base, key) {
  const created = [];
  const call = async (method, path, body) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const answer = await response.json();
    if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${JSON.stringify(answer)}`);
    return answer;
  };
  return {
    created,
    get: (path) => call('GET', path),
    async create(plural, body) {
      const object = await call('POST', `/api/v1/${plural}`, body);
      const kind = plural.replace(/ies$/, 'y').replace(/s$/, '').replace(/-/g, ' ');
      created.push(`${kind.padEnd(19)} ${object.name}${body.type ? ` (${body.type})` : ''}`);
      return object;
    },
  };
}
