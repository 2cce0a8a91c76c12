import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startCloud, type CloudProcess } from './support/cloud-process.js';
import { ROOT, runExample, startExample, stopExamples, type ExampleService } from './support/example-processes.js';
import { startFakeIssuer } from './support/fake-services.js';

/**
 * examples/admin-setup, examples/fastify-service and examples/serverless, run as their READMEs
 * say (same commands, same environment variables, from the repository root) against the real
 * control plane. admin-setup's environment.json configures the environment the two others run
 * in; the test adapts its loopback values (issuer, port) and closes the market-hours window.
 */

const API_KEY = 'mkt_live_e2e_examples_7f3a91c2d4';
const CONFIGURE = 'examples/admin-setup/configure.mjs';
const OBJECTS = [
  ['trust-provider', 'idp'],
  ['client-workload', 'quote-service'],
  ['client-workload', 'quote-function'],
  ['server-workload', 'market-data-delayed'],
  ['server-workload', 'market-data-realtime'],
  ['credential-provider', 'market-data-key'],
  ['access-condition', 'market-hours'],
  ['access-policy', 'delayed-quotes'],
  ['access-policy', 'realtime-quotes'],
] as const;

/** A daily one-minute window that opens twelve hours from now: closed while the test runs. */
function closedWindow() {
  const at = new Date(Date.now() + 12 * 3600_000);
  const hhmm = (d: Date) => `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
  return { timeZone: 'UTC', start: hhmm(at), end: hhmm(new Date(at.getTime() + 60_000)) };
}

/** `action kind name` lines of configure.mjs, as a map `kind name` → action. */
function actions(stdout: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const match of stdout.matchAll(/^(created|updated|unchanged|would create|would update)\s+([a-z-]+)\s+(\S+)/gm)) result[`${match[2]} ${match[3]}`] = match[1]!;
  return result;
}

describe('examples: admin-setup, fastify-service, serverless', () => {
  let workDir: string;
  let cloud: CloudProcess;
  let adminKey: string;
  let issuer: Awaited<ReturnType<typeof startFakeIssuer>>;
  let marketData: ExampleService;
  let quoteService: ExampleService | undefined;
  let environmentFile: string;
  let serviceToken: string;
  let functionToken: string;
  const environment = () => JSON.parse(readFileSync(join(ROOT, 'examples/admin-setup/environment.json'), 'utf8'));
  const admin = async (path: string) => {
    const { status, body } = await api(cloud.url, adminKey, 'GET', path);
    expect(status, JSON.stringify(body)).toBe(200);
    return body;
  };
  const configure = (args: string[] = [], env: Record<string, string> = {}) =>
    runExample([CONFIGURE, environmentFile, ...args], { TESSERA_URL: cloud.url, TESSERA_ADMIN_KEY: adminKey, MARKET_DATA_API_KEY: API_KEY, ...env });
  const quote = async (path: string) => {
    const response = await fetch(`${quoteService!.ready.url}${path}`);
    return { status: response.status, body: await response.json() };
  };
  const vendorSaw = () => marketData.lines().map((line) => `${line.path} ${line.authorized}`);

  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'tessera-e2e-examples-'));
    issuer = await startFakeIssuer();
    cloud = await startCloud(['--data', join(workDir, 'cloud'), '--log-level', 'warn']);
    adminKey = cloud.bootstrapKey!;
    // examples/fastify-service/README.md: the stand-in vendor API, which knows its own key.
    marketData = await startExample(['examples/fastify-service/third-party-api.mjs'], { MARKET_DATA_API_KEY: API_KEY, PORT: '0' });

    // The example environment, with the loopback issuer and port of this run.
    const desired = environment();
    desired.trustProviders[0].config.issuer = issuer.issuer;
    for (const server of desired.serverWorkloads) server.port = Number(new URL(marketData.ready.url).port);
    desired.accessConditions[0].config = closedWindow();
    environmentFile = join(workDir, 'environment.json');
    writeFileSync(environmentFile, JSON.stringify(desired, null, 2));

    // The workloads' evidence: OIDC tokens for the control plane's URL, as a platform mounts them.
    serviceToken = join(workDir, 'quote-service.token');
    functionToken = join(workDir, 'quote-function.token');
    writeFileSync(serviceToken, await issuer.sign({}, { audience: cloud.url, subject: 'quote-service' }));
    writeFileSync(functionToken, await issuer.sign({}, { audience: cloud.url, subject: 'quote-function' }));
  });

  afterAll(async () => {
    await stopExamples();
    await cloud?.stop();
    await issuer?.close();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('admin-setup: the first run creates every object; the key comes from the environment', async () => {
    expect(readFileSync(join(ROOT, 'examples/admin-setup/environment.json'), 'utf8')).not.toContain(API_KEY);
    const { code, stdout, stderr } = await configure();
    expect(code, stderr).toBe(0);
    expect(actions(stdout)).toEqual(Object.fromEntries(OBJECTS.map(([kind, name]) => [`${kind} ${name}`, 'created'])));
    expect(stdout).toContain('9 created, 0 updated, 0 unchanged');
    expect(stdout + stderr).not.toContain(API_KEY);

    const [provider] = (await admin('/api/v1/credential-providers?name=market-data-key')).items;
    expect(provider).toMatchObject({ type: 'api-key', secretFields: ['apiKey'] });
    const [policy] = (await admin('/api/v1/access-policies?name=realtime-quotes')).items;
    const [condition] = (await admin('/api/v1/access-conditions?name=market-hours')).items;
    expect(policy.accessConditionIds).toEqual([condition.id]);
  });

  it('admin-setup: a second run changes nothing', async () => {
    const changesBefore = (await admin('/api/v1/audit-events?kind=admin.change&limit=500')).items.length;
    const { code, stdout, stderr } = await configure();
    expect(code, stderr).toBe(0);
    expect(actions(stdout)).toEqual(Object.fromEntries(OBJECTS.map(([kind, name]) => [`${kind} ${name}`, 'unchanged'])));
    expect(stdout).toContain('0 created, 0 updated, 9 unchanged');
    expect((await admin('/api/v1/audit-events?kind=admin.change&limit=500')).items.length).toBe(changesBefore);
  });

  it('fastify-service: a quote needs the injected key; a refused feed gets the service’s own 403', async () => {
    // examples/fastify-service/README.md, as written: no key in the service's environment.
    quoteService = await startExample(['--import', '@tessera/sdk/register', 'examples/fastify-service/server.mjs'], {
      TESSERA_CLOUD_URL: cloud.url,
      TESSERA_OIDC_TOKEN_FILE: serviceToken,
      MARKET_DATA_URL: marketData.ready.url,
      PORT: '0',
    });

    const delayed = await quote('/quote/ACME');
    expect(delayed.status, JSON.stringify(delayed.body)).toBe(200);
    expect(delayed.body).toMatchObject({ symbol: 'ACME', currency: 'USD', delayedMinutes: 15, feed: 'delayed' });
    expect(vendorSaw()).toEqual(['/v1/quotes/ACME true']); // the vendor answers only with its key

    const realtime = await quote('/quote/ACME?feed=realtime');
    expect(realtime).toEqual({ status: 403, body: { error: 'feed_not_available', feed: 'realtime', reason: 'condition_failed' } });
    expect(vendorSaw()).toEqual(['/v1/quotes/ACME true']); // the refused request was never sent

    expect((await quote('/quote/not%20a%20symbol')).status).toBe(400);
    expect(quoteService.output()).not.toContain(API_KEY);
  });

  it('serverless: two invocations, one attestation, every request outcome flushed before exit', async () => {
    // examples/serverless/README.md: configured only by TESSERA_* (plus the API's URL).
    const { code, stdout, stderr } = await runExample(['examples/serverless/invoke.mjs'], {
      TESSERA_CLOUD_URL: cloud.url,
      TESSERA_OIDC_TOKEN_FILE: functionToken,
      MARKET_DATA_URL: marketData.ready.url,
    });
    expect(code, stderr).toBe(0);
    const lines = stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({ invocation: 1, result: { statusCode: 200 } });
    expect(lines[1]).toMatchObject({ invocation: 2, result: { statusCode: 200 } });
    expect(JSON.parse(lines[0].result.body)).toMatchObject({ symbol: 'ACME', delayedMinutes: 15 });
    expect(JSON.parse(lines[1].result.body)).toMatchObject({ symbol: 'GLOBEX', delayedMinutes: 15 });
    expect(lines[2]).toEqual({ attestations: 1 });
    expect(stdout + stderr).not.toContain(API_KEY);

    // The control plane's audit: one attestation and one credential for the instance; and its
    // request metrics count both requests, although invoke.mjs ended the process right after the
    // second invocation.
    const [fn] = (await admin('/api/v1/client-workloads?name=quote-function')).items;
    const events = async (kind: string) => (await admin(`/api/v1/audit-events?kind=${kind}&clientWorkloadId=${fn.id}&limit=100`)).items;
    expect((await events('edge.attest')).map((e: any) => e.outcome)).toEqual(['allow']);
    expect((await events('edge.credential')).map((e: any) => e.outcome)).toEqual(['allow']);
    const [vendor] = (await admin('/api/v1/server-workloads?name=market-data-delayed')).items;
    const metrics = (await admin(`/api/v1/request-metrics?clientWorkloadId=${fn.id}`)).items;
    expect(metrics.map((row: any) => [row.serverWorkloadId, row.outcome, row.statusClass, row.requests])).toEqual([[vendor.id, 'allow', '2xx', 2]]);
  });

  it('admin-setup: a changed field is planned by --dry-run, applied by the next run, and takes effect', async () => {
    const desired = JSON.parse(readFileSync(environmentFile, 'utf8'));
    const closed = desired.accessConditions[0].config;
    desired.accessConditions[0].config = { timeZone: 'UTC', start: '00:00', end: '00:00' }; // 24 hours: always open
    writeFileSync(environmentFile, JSON.stringify(desired, null, 2));

    const plan = await configure(['--dry-run']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/^would update\s+access-condition\s+market-hours \(config\)$/m);
    expect(plan.stdout).toContain('dry run: 0 created, 1 updated, 8 unchanged');
    const [before] = (await admin('/api/v1/access-conditions?name=market-hours')).items;
    expect(before.config).toEqual(closed); // a dry run changes nothing

    const { code, stdout, stderr } = await configure();
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^updated\s+access-condition\s+market-hours \(config\)$/m);
    expect(stdout).toContain('0 created, 1 updated, 8 unchanged');
    const [after] = (await admin('/api/v1/access-conditions?name=market-hours')).items;
    expect(after.config).toEqual({ timeZone: 'UTC', start: '00:00', end: '00:00' });

    // The running quote service now gets real-time quotes: at once on the control plane, and in
    // the service once its SDK has forgotten the earlier refusal (remembered 5 s, see docs/sdk.md).
    let realtime = await quote('/quote/ACME?feed=realtime');
    for (const started = Date.now(); realtime.status === 403 && Date.now() - started < 7_000; ) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      realtime = await quote('/quote/ACME?feed=realtime');
    }
    expect(realtime.status, JSON.stringify(realtime.body)).toBe(200);
    expect(realtime.body).toMatchObject({ symbol: 'ACME', delayedMinutes: 0, feed: 'realtime' });
    expect(vendorSaw()).toContain('/v1/realtime/ACME true');
  });

  it('admin-setup: a bad admin key fails clearly, before changing anything', async () => {
    const badKey = 'tsk_not_a_key_of_this_control_plane';
    const { code, stdout, stderr } = await configure([], { TESSERA_ADMIN_KEY: badKey });
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr.trim()).toBe('configure: GET /api/v1/resource-sets: 401 unauthorized — the control plane refused TESSERA_ADMIN_KEY (unknown, disabled or expired)');
    expect(stderr).not.toContain(badKey);

    const missing = await configure([], { MARKET_DATA_API_KEY: '' });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('environment variable(s) not set: MARKET_DATA_API_KEY');
  });
});
