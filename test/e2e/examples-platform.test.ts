import { spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { api, CLI, startCloud, type CloudProcess } from './support/cloud-process.js';
import {
  type Background,
  baseEnv,
  codeBlocks,
  freePort,
  namedShellBlocks,
  requireTools,
  ROOT,
  run,
  runShell,
  startFakeGitHubRunner,
  startKeyedApi,
  startReleasesApi,
  startShell,
} from './support/examples.js';
import { startFakeIssuer } from './support/fake-services.js';

/**
 * The platform examples, run the way their READMEs say: the README blocks themselves with bash,
 * the example scripts with the commands the READMEs and the workflow give, the Kubernetes
 * manifests checked against the CLI and the SDK and started for real.
 */

const example = (path: string) => join(ROOT, 'examples', path);

async function findByName(base: string, key: string, kind: string, name: string): Promise<any> {
  const found = (await api(base, key, 'GET', `/api/v1/${kind}?name=${encodeURIComponent(name)}`)).body.items[0];
  if (found === undefined) throw new Error(`no ${kind} named ${name}`);
  return found;
}

async function patch(base: string, key: string, kind: string, id: string, body: Record<string, unknown>): Promise<any> {
  const response = await api(base, key, 'PATCH', `/api/v1/${kind}/${id}`, body);
  if (response.status !== 200) throw new Error(`PATCH ${kind}: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The README's text block right after the paragraph that ends with `marker`. */
function textBlockAfter(markdownFile: string, marker: string): string {
  const markdown = readFileSync(markdownFile, 'utf8');
  const at = markdown.indexOf(marker);
  if (at < 0) throw new Error(`${markdownFile}: "${marker}" not found`);
  const block = /```text\n([\s\S]*?)```/.exec(markdown.slice(at));
  if (block === null) throw new Error(`${markdownFile}: no text block after "${marker}"`);
  return block[1]!.trimEnd();
}

// ---------------------------------------------------------------------------------------------
// Custom trust provider + custom credential provider: the README walk-through
// ---------------------------------------------------------------------------------------------

describe('examples/custom-trust-provider and custom-credential-provider: the README walk-through', () => {
  const TRUST_README = example('custom-trust-provider/README.md');
  const CREDENTIAL_README = example('custom-credential-provider/README.md');
  const README_DEMO = '/tmp/tessera-machine-demo';
  let blocks: Map<string, string>;
  let demo: string;
  let settings: Record<string, string>;
  let secretsApi: Background | undefined;
  let cloud: Background | undefined;

  const block = (name: string) => {
    const text = blocks.get(name);
    if (text === undefined) throw new Error(`${TRUST_README}: no sh block "# ${name}"`);
    return text.replaceAll(README_DEMO, demo);
  };
  /**
   * A reader's terminal: the system PATH, without this checkout's node_modules/.bin, which the
   * settings file puts first (so that a system Node.js older than the SDK's minimum does not matter).
   */
  const terminal = () => ({
    PATH: (process.env.PATH ?? '').split(delimiter).filter((dir) => !dir.endsWith(join('node_modules', '.bin'))).join(delimiter),
    HOME: process.env.HOME ?? '/tmp',
  });
  /** A block of terminal 3 (which sourced the settings at its first block). */
  const terminal3 = (script: string) => runShell(`source "${demo}/settings.sh"\n${script}`, { cwd: ROOT, env: terminal() });
  const serviceLog = () =>
    secretsApi!
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, any>);
  const inventoryRequests = () => serviceLog().filter((entry) => entry.service === 'inventory-api').length;

  beforeAll(async () => {
    requireTools('bash', 'curl', 'jq', 'openssl');
    blocks = namedShellBlocks(TRUST_README);
    demo = mkdtempSync(join(tmpdir(), 'tessera-machine-demo-'));
    // Step 1 as written (a random admin key and secrets API token in settings.sh), then free ports
    // instead of 8080, 8201 and 8202, which may be taken on this machine.
    const step1 = await runShell(block('settings'), { cwd: ROOT, env: terminal() });
    expect(step1.code, step1.stdout + step1.stderr).toBe(0);
    const [tesseraPort, secretsPort, inventoryPort] = [await freePort(), await freePort(), await freePort()];
    appendFileSync(
      join(demo, 'settings.sh'),
      `export TESSERA_PORT=${tesseraPort} SECRETS_API_PORT=${secretsPort} INVENTORY_API_PORT=${inventoryPort}\nexport TESSERA_URL=http://127.0.0.1:${tesseraPort}\n`,
    );
    const names = ['DEMO', 'TESSERA_PORT', 'SECRETS_API_PORT', 'INVENTORY_API_PORT', 'TESSERA_URL', 'TESSERA_ADMIN_KEY', 'SECRETS_API_TOKEN'];
    const values = await terminal3(names.map((name) => `printf '%s\\n' "$${name}"`).join('\n'));
    settings = Object.fromEntries(values.stdout.trim().split('\n').map((value, i) => [names[i]!, value]));
    expect(Object.values(settings).filter(Boolean)).toHaveLength(names.length);
    expect(settings).toMatchObject({ DEMO: demo, TESSERA_ADMIN_KEY: expect.stringMatching(/^tsk_[A-Za-z0-9_-]{32,}$/), SECRETS_API_TOKEN: expect.stringMatching(/^[0-9a-f]{48}$/) });

    secretsApi = startShell(block('terminal 1'), { cwd: ROOT, env: terminal() });
    cloud = startShell(block('terminal 2'), { cwd: ROOT, env: terminal() });
    const [, , enrol] = await Promise.all([
      secretsApi.waitFor(/inventory API: http:\/\/127\.0\.0\.1:\d+/),
      cloud.waitFor(/Tessera control plane listening on http:\/\/127\.0\.0\.1:\d+/),
      terminal3(block('enrol')), // needs neither service
    ]);
    expect(enrol.code, `enrol:\n${enrol.stdout}${enrol.stderr}`).toBe(0);
    const configure = await terminal3(block('configure'));
    expect(configure.code, `configure:\n${configure.stdout}${configure.stderr}`).toBe(0);
    expect(configure.stdout).toMatch(/^\{"id":"[0-9a-f-]{36}","name":"edge-box-reads-inventory"\}$/m);
  });

  afterAll(async () => {
    await Promise.all([cloud?.stop(), secretsApi?.stop()]);
    if (demo) rmSync(demo, { recursive: true, force: true });
  });

  it('an enrolled machine calls the inventory API with a leased password it never held', async () => {
    const result = await terminal3(block('call'));
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const caller = /^200 \{"items":\[.*\],"caller":"(v-inventory-reader-[0-9a-f]{8})"\}$/m.exec(result.stdout)?.[1];
    expect(caller, result.stdout).toBeDefined();
    // The README shows the same answer (its lease name is another random one).
    expect(result.stdout.trim().replace(caller!, 'LEASE')).toBe(textBlockAfter(TRUST_README, '# call').replace(/v-inventory-reader-[0-9a-f]{8}/, 'LEASE'));

    const log = serviceLog();
    expect(log).toContainEqual(
      expect.objectContaining({ service: 'secrets-api', lease: caller, status: 201, ttlSeconds: 300, requestedBy: expect.objectContaining({ clientWorkload: 'lyon-edge-box-17', serverWorkload: 'inventory-api' }) }),
    );
    expect(log).toContainEqual(expect.objectContaining({ service: 'inventory-api', path: '/v1/items', user: caller, status: 200 }));
    // Nothing secret reached the workload's output, nor the services' logs.
    for (const secret of [settings.SECRETS_API_TOKEN!, settings.TESSERA_ADMIN_KEY!]) {
      expect(result.stdout + result.stderr + secretsApi!.output()).not.toContain(secret);
    }

    const audit = await terminal3(block('audit'));
    expect(audit.code).toBe(0);
    const events = audit.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(events).toContainEqual({ kind: 'edge.attest', outcome: 'allow', reason: null });
    expect(events).toContainEqual({ kind: 'edge.credential', outcome: 'allow', reason: null });
  });

  it('the objects the credential provider README describes are the ones the walk-through creates', async () => {
    const key = settings.TESSERA_ADMIN_KEY!;
    const base = settings.TESSERA_URL!;
    const [provider, server, policy] = codeBlocks(CREDENTIAL_README)
      .filter((b) => b.lang === 'json')
      .map((b) => JSON.parse(b.text));
    const created = await findByName(base, key, 'credential-providers', provider.name);
    expect(created).toMatchObject({ type: provider.type, config: { role: provider.config.role, ttlSeconds: provider.config.ttlSeconds } });
    expect(Object.keys(created.config).sort()).toEqual(Object.keys(provider.config).sort());
    expect(created.secretFields).toEqual(Object.keys(provider.secrets));
    const createdServer = await findByName(base, key, 'server-workloads', server.name);
    expect(createdServer.injection).toEqual(server.injection);
    const createdPolicy = await findByName(base, key, 'access-policies', policy.name);
    for (const field of Object.keys(policy)) expect(createdPolicy).toHaveProperty(field);
    // The README's examples pass the admin API's checks as written.
    const validation = await api(base, key, 'POST', '/api/v1/credential-providers', { ...provider, name: 'readme-leases' });
    expect(validation.status, JSON.stringify(validation.body)).toBe(201);
    const invalid = await api(base, key, 'POST', '/api/v1/credential-providers', {
      ...provider,
      name: 'readme-leases-bad',
      config: { ...provider.config, secretsApiUrl: 'http://secrets.example.com' },
      secrets: { apiToken: 'too-short' },
    });
    expect(invalid.status).toBe(400);
    expect(invalid.body.details).toEqual(
      expect.arrayContaining([{ path: '/secrets/apiToken', message: expect.any(String) }]),
    );
    expect(JSON.stringify(invalid.body)).not.toContain('too-short');
  });

  it('the README snippets start the SDK with the collector from its ./collector entry: alone, and beside a built-in collector', async () => {
    const snippets = codeBlocks(TRUST_README).filter((b) => b.lang === 'js');
    expect(snippets).toHaveLength(2);
    const files = { cert: `${demo}/edge-box-17/certificate`, key: `${demo}/edge-box-17/machine-key.pem` };
    const runSnippet = (snippet: { text: string }) => {
      const program = [
        snippet.text
          .replaceAll("'@example/tessera-machine-certificate/collector'", JSON.stringify(pathToFileURL(example('custom-trust-provider/collector.js')).href))
          .replaceAll("'https://tessera.example.com'", JSON.stringify(settings.TESSERA_URL))
          .replaceAll('/etc/machine-identity/certificate', files.cert)
          .replaceAll('/etc/machine-identity/machine-key.pem', files.key),
        `const response = await fetch('http://127.0.0.1:${settings.INVENTORY_API_PORT}/v1/items');`,
        `console.log(response.status, (await response.json()).caller);`,
        `await (await import('@tessera/sdk')).shutdown();`,
      ].join('\n');
      return run(process.execPath, ['--input-type=module', '-e', program], {
        cwd: ROOT,
        env: baseEnv({ MACHINE_IDENTITY_CERT_FILE: files.cert, MACHINE_IDENTITY_KEY_FILE: files.key }),
      });
    };
    const results = await Promise.all(snippets.map(runSnippet));
    results.forEach((result, i) => expect(result.stdout, `${snippets[i]!.text}\n${result.stderr}`).toMatch(/^200 v-inventory-reader-[0-9a-f]{8}$/m));
  });

  it('refuses an expired certificate, one from an unknown enrolment key, a certificate without its machine key, and a readable key file', async () => {
    const { issueMachineCertificate } = await import(pathToFileURL(example('custom-trust-provider/certificate.js')).href);
    const enrolmentKey = createPrivateKey(readFileSync(`${demo}/enrolment/enrolment-key.pem`));
    const machinePublicKey = createPublicKey(readFileSync(`${demo}/edge-box-17/machine-key.pub.pem`));
    const machineKeyPem = readFileSync(`${demo}/edge-box-17/machine-key.pem`, 'utf8');
    const issue = (signer: unknown, now: Date) =>
      issueMachineCertificate({ enrolmentKey: signer, kid: 'enrolment-1', machine: 'edge-box-17', site: 'lyon', machinePublicKey, lifetimeSeconds: 3600, now });
    const otherKey = generateKeyPairSync('ed25519');
    const cases = [
      // Issued two hours ago for one hour: the enrolment CLI would never do that.
      { name: 'expired-box', certificate: issue(enrolmentKey, new Date(Date.now() - 7_200_000)), refusal: 'TesseraAccessDeniedError evidence_expired', message: 'The evidence has expired' },
      { name: 'rogue-box', certificate: issue(otherKey.privateKey, new Date()), refusal: 'TesseraAccessDeniedError evidence_invalid', message: 'trust(machine-certificate): certificate: signature verification failed' },
      {
        name: 'stolen-box',
        certificate: readFileSync(`${demo}/edge-box-17/certificate`, 'utf8'),
        keyPem: otherKey.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        refusal: 'TesseraAccessDeniedError evidence_invalid',
        message: 'trust(machine-certificate): proof: signature verification failed',
      },
      // The collector refuses, before anything is sent, a private key other users can read: a
      // set-up mistake, so the register hook stops the process at start with that error.
      { name: 'careless-box', certificate: readFileSync(`${demo}/edge-box-17/certificate`, 'utf8'), keyMode: 0o644, refusal: 'TesseraConfigurationError no_evidence_collector', message: 'machine-key.pem is readable by other users: run chmod 600' },
    ];
    for (const { name, certificate, keyPem = machineKeyPem, keyMode = 0o600 } of cases) {
      mkdirSync(join(demo, name), { mode: 0o700 });
      writeFileSync(join(demo, name, 'certificate'), certificate);
      writeFileSync(join(demo, name, 'machine-key.pem'), keyPem, { mode: 0o600 });
      chmodSync(join(demo, name, 'machine-key.pem'), keyMode);
    }
    const before = inventoryRequests();
    // The README's call, on each of these machines.
    const results = await Promise.all(cases.map(({ name }) => terminal3(block('call').replaceAll('edge-box-17', name))));
    expect(inventoryRequests(), 'a refused machine reached the inventory API').toBe(before);
    cases.forEach(({ name, refusal, message }, i) => {
      const result = results[i]!;
      expect(result.code, name).toBe(1);
      if (refusal.startsWith('TesseraConfigurationError')) {
        expect(result.stdout, name).toBe('');
        expect(result.stderr, name).toContain('TesseraConfigurationError');
        expect(result.stderr, name).toContain(message);
      } else {
        expect(result.stdout, name).toMatch(new RegExp(`^refused: ${refusal}: `));
        expect(result.stdout, name).toContain(message);
      }
    });
  });

  it('a credential provider the secrets API refuses denies the call, without echoing the token', async () => {
    const key = settings.TESSERA_ADMIN_KEY!;
    const provider = await findByName(settings.TESSERA_URL!, key, 'credential-providers', 'inventory-leases');
    const wrongToken = `wrong-token-${randomBytes(8).toString('hex')}`;
    await patch(settings.TESSERA_URL!, key, 'credential-providers', provider.id, { secrets: { apiToken: wrongToken } });
    const before = inventoryRequests();
    const refused = await terminal3(block('call'));
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain(
      'refused: TesseraAccessDeniedError credential_provider_error: Tessera denied access to http://127.0.0.1',
    );
    expect(refused.stdout).toContain('credential(leased-password): the secrets API refused the API token (HTTP 401)');
    expect(refused.stdout + secretsApi!.output()).not.toContain(wrongToken);
    expect(inventoryRequests()).toBe(before);
    await patch(settings.TESSERA_URL!, key, 'credential-providers', provider.id, { secrets: { apiToken: settings.SECRETS_API_TOKEN } });
  });

  it('after the README revokes the certificate, the machine is refused and the API never sees it', async () => {
    const revoke = await terminal3(block('revoke'));
    expect(revoke.code, revoke.stdout + revoke.stderr).toBe(0);
    expect(revoke.stdout).toMatch(/^\["[0-9a-f]{32}"\]$/m);
    const before = inventoryRequests();
    const result = await terminal3(block('call'));
    expect(result.code).toBe(1);
    expect(inventoryRequests()).toBe(before);
    // Exactly what the README shows, with the README's port.
    expect(result.stdout.trim().replaceAll(`127.0.0.1:${settings.INVENTORY_API_PORT}`, '127.0.0.1:8202')).toBe(
      textBlockAfter(TRUST_README, 'The same `call` command now prints:'),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// GitHub Actions
// ---------------------------------------------------------------------------------------------

describe('examples/github-actions: the workflow step against a stand-in runner', () => {
  const GH = example('github-actions');
  const workflow = parseYaml(readFileSync(join(GH, 'workflow.yml'), 'utf8'));
  const [jobName, job] = Object.entries<any>(workflow.jobs).find(([, j]) => j.steps?.some((s: any) => String(s.run ?? '').includes('call-api.mjs')))!;
  const step = job.steps.find((s: any) => String(s.run ?? '').includes('call-api.mjs'));
  const RELEASES_AUDIENCE = 'https://releases.internal.example.com';
  let dataDir: string;
  let cloud: CloudProcess;
  let key: string;
  let runner: Awaited<ReturnType<typeof startFakeGitHubRunner>>;
  let releases: Awaited<ReturnType<typeof startReleasesApi>>;

  /** The step as a runner runs it: `bash -eo pipefail` in the checkout, the step's env, the runner's variables. */
  const runStep = (jobClaims: Record<string, string> = {}, runnerEnv: Record<string, string> = runner.jobEnv(jobClaims)) => {
    // The step's env, with the stand-ins' URLs for the two the workflow points at real hosts.
    const local: Record<string, string> = { TESSERA_CLOUD_URL: cloud.url, RELEASES_API_URL: releases.url };
    const stepEnv = Object.fromEntries(Object.entries<string>(step.env).map(([name, value]) => [name, local[name] ?? value]));
    return run('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', step.run], {
      cwd: GH,
      env: baseEnv({
        ...runnerEnv,
        GITHUB_ACTIONS: 'true',
        GITHUB_REPOSITORY: jobClaims.repository ?? 'acme/shop',
        GITHUB_REF: jobClaims.ref ?? 'refs/heads/main',
        GITHUB_SHA: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4',
        GITHUB_RUN_ID: '9876543210',
        ...stepEnv,
      }),
    });
  };

  beforeAll(async () => {
    requireTools('bash', 'curl', 'jq');
    dataDir = mkdtempSync(join(tmpdir(), 'tessera-e2e-github-'));
    [cloud, runner] = await Promise.all([startCloud(['--data', dataDir, '--log-level', 'warn']), startFakeGitHubRunner()]);
    key = cloud.bootstrapKey!;
    releases = await startReleasesApi(cloud.url, RELEASES_AUDIENCE);

    const configure = namedShellBlocks(join(GH, 'README.md')).get('configure')!;
    const result = await runShell(configure, { cwd: ROOT, env: baseEnv({ TESSERA_URL: cloud.url, TESSERA_ADMIN_KEY: key }) });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/"name":"ci-records-releases"/);
    // The stand-ins are not token.actions.githubusercontent.com nor releases.internal.example.com.
    const trust = await findByName(cloud.url, key, 'trust-providers', 'github');
    await patch(cloud.url, key, 'trust-providers', trust.id, { config: { ...trust.config, issuer: runner.issuer, jwksUri: runner.jwksUri } });
    const server = await findByName(cloud.url, key, 'server-workloads', 'releases-api');
    await patch(cloud.url, key, 'server-workloads', server.id, { scheme: 'http', host: '127.0.0.1', port: releases.port });
  });

  afterAll(async () => {
    await cloud?.stop();
    await runner?.close();
    await releases?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('workflow.yml asks for id-token: write and runs the register hook with only TESSERA_CLOUD_URL from Tessera', () => {
    const permissions = job.permissions ?? workflow.permissions;
    expect(permissions, jobName).toMatchObject({ 'id-token': 'write', contents: 'read' });
    expect(step.run).toBe('node --import @tessera/sdk/register call-api.mjs');
    expect(Object.keys(step.env).sort()).toEqual(['RELEASES_API_URL', 'TESSERA_CLOUD_URL']);
    expect(step.env.TESSERA_CLOUD_URL).toMatch(/^https:\/\//);
    // The step runs after npm ci, on a Node the SDK supports.
    const steps: any[] = job.steps;
    expect(steps.findIndex((s) => s.run === 'npm ci')).toBeLessThan(steps.indexOf(step));
    expect(Number(steps.find((s) => String(s.uses ?? '').startsWith('actions/setup-node@'))?.with?.['node-version'])).toBeGreaterThanOrEqual(24);
    // The README's excerpt is the workflow's.
    const excerpt = parseYaml(codeBlocks(join(GH, 'README.md')).find((b) => b.lang === 'yaml')!.text);
    const excerptJob = excerpt.jobs[jobName];
    expect(excerptJob.permissions).toEqual(job.permissions);
    expect(excerptJob.steps.at(-1)).toEqual({ env: step.env, run: step.run });
  });

  it('the step records the release with a credential Tessera issued for the job', async () => {
    const result = await runStep();
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe(
      textBlockAfter(join(GH, 'README.md'), '## What the job prints').replace('"id":"rel_1"', `"id":"rel_${releases.received.length}"`),
    );
    expect(runner.requests.at(-1)).toEqual({ audience: cloud.url, authorized: true });
    expect(releases.received.at(-1)).toMatchObject({ subject: 'resource-set:default:client-workload:shop-release-main', status: 201, body: { repository: 'acme/shop', ref: 'refs/heads/main' } });
  });

  it('refuses, before sending anything, a job of another owner, of another branch, or without id-token: write', async () => {
    const before = releases.received.length;
    const [otherOwner, otherBranch, noPermission, badRequestToken] = await Promise.all([
      runStep({ repository: 'evil/shop', repository_owner_id: '666' }),
      runStep({ ref: 'refs/heads/feature', workflow_ref: 'acme/shop/.github/workflows/call-protected-api.yml@refs/heads/feature' }),
      runStep({}, {}), // the runner sets no ACTIONS_ID_TOKEN_* variables without id-token: write
      runStep({}, { ...runner.jobEnv(), ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'not-the-request-token' }),
    ]);
    expect(releases.received.length).toBe(before);

    expect(otherOwner.code).toBe(1);
    // What the README shows, for its releases API URL.
    expect(otherOwner.stdout.trim().replace(`http://127.0.0.1:${releases.port}`, 'https://releases.internal.example.com:443')).toBe(
      textBlockAfter(join(GH, 'README.md'), 'is refused before anything is sent:'),
    );
    expect(otherBranch.code).toBe(1);
    expect(otherBranch.stdout).toContain('TesseraAccessDeniedError no_client_workload: ');
    expect(noPermission.code).not.toBe(0);
    // The README's line; "…" stands for the collectors after the first three, whose list grows.
    const [head, tail] = textBlockAfter(join(GH, 'README.md'), 'Without `id-token: write`').split(', …');
    expect(noPermission.stderr).toMatch(new RegExp(`^${escapeRegExp(head!)}(, [a-z0-9-]+)*${escapeRegExp(tail!)}$`, 'm'));
    expect(badRequestToken.code).toBe(1);
    expect(badRequestToken.stdout).toContain('GitHub Actions ID token');
    expect(badRequestToken.stdout + badRequestToken.stderr).not.toContain('not-the-request-token');
  });
});

// ---------------------------------------------------------------------------------------------
// Kubernetes
// ---------------------------------------------------------------------------------------------

describe('examples/kubernetes: the manifests against the CLI, the SDK and a running control plane', () => {
  const K8S = example('kubernetes');
  const DATABASE_URL = process.env.TESSERA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const docs = (file: string) => parseAllDocuments(readFileSync(join(K8S, file), 'utf8')).map((doc) => doc.toJS());
  const cloudDocs = docs('tessera-cloud.yaml');
  const clientDocs = docs('client-workload.yaml');
  const deployment = cloudDocs.find((d) => d.kind === 'Deployment');
  const container = deployment.spec.template.spec.containers[0];
  const clientDeployment = clientDocs.find((d) => d.kind === 'Deployment');
  const clientPod = clientDeployment.spec.template.spec;
  const clientContainer = clientPod.containers[0];
  const clientEnv = Object.fromEntries(clientContainer.env.map((e: any) => [e.name, e.value]));
  /** `--flag=value` and `--flag value` of the manifest's args. */
  const flags = new Map<string, string>();
  (container.args as string[]).forEach((arg, i, all) => {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (match) flags.set(match[1]!, match[2] ?? all[i + 1]!);
  });
  const database = `tessera_e2e_k8s_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: DATABASE_URL });
  const adminKey = `tsk_${randomBytes(24).toString('base64url')}`;
  let help: string;
  let dataDir: string;
  let cloud: CloudProcess | undefined;
  let databaseCreated = false;

  beforeAll(async () => {
    requireTools('bash', 'curl', 'jq');
    help = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' }).stdout;
    await admin.connect();
    // CREATE DATABASE copies template1, and fails (55006) while another test's CREATE DATABASE does.
    for (let attempt = 1; !databaseCreated; attempt += 1) {
      try {
        await admin.query(`CREATE DATABASE ${database}`);
        databaseCreated = true;
      } catch (error) {
        if ((error as { code?: string }).code !== '55006' || attempt === 10) throw error;
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    }
    const url = new URL(DATABASE_URL);
    url.pathname = `/${database}`;
    dataDir = mkdtempSync(join(tmpdir(), 'tessera-e2e-k8s-'));

    // The Deployment's arguments, but on loopback, a free port, a public URL this test can reach and a temp data directory.
    const port = await freePort();
    const local: Record<string, string> = { host: '127.0.0.1', port: String(port), 'public-url': `http://127.0.0.1:${port}`, data: dataDir };
    const args = [...flags].map(([name, value]) => `--${name}=${local[name] ?? value}`);
    const secret: Record<string, string> = { 'database-url': url.href, 'master-key': randomBytes(32).toString('base64'), 'bootstrap-admin-key': adminKey };
    const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.value ?? secret[e.valueFrom.secretKeyRef.key]]));
    cloud = await startCloud(args, env);
  });

  afterAll(async () => {
    await cloud?.stop();
    if (databaseCreated) await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('the control plane Deployment uses only commands, flags and variables the CLI has', () => {
    const bin = JSON.parse(readFileSync(join(ROOT, 'packages/cloud-server/package.json'), 'utf8')).bin;
    expect(container.command).toEqual([Object.keys(bin)[0]]);
    expect(container.args[0]).toBe('start');
    expect(help).toMatch(/^ {2}start {2,}Run the control plane$/m);
    for (const flag of flags.keys()) expect(help, `--${flag}`).toMatch(new RegExp(`^ {2}--${flag} [A-Z]+ `, 'm'));
    expect(flags.get('host')).toBe('0.0.0.0');
    // --database-url comes from its variable, which the CLI documents next to the flag.
    expect(help).toMatch(/^ {2}--database-url URL .*\(TESSERA_DATABASE_URL\)$/m);
    for (const { name } of container.env) expect(help, name).toContain(name);
    expect(container.env.map((e: any) => e.name).sort()).toEqual(['TESSERA_BOOTSTRAP_ADMIN_KEY', 'TESSERA_DATABASE_URL', 'TESSERA_MASTER_KEY']);
    // Every Secret key the Deployment reads is one the README's `kubectl create secret` writes.
    const readme = readFileSync(join(K8S, 'README.md'), 'utf8');
    for (const e of container.env) {
      expect(e.valueFrom.secretKeyRef.name).toBe('tessera-cloud');
      expect(readme).toContain(`--from-literal=${e.valueFrom.secretKeyRef.key}=`);
    }
    expect(readme).toContain('create secret generic tessera-cloud');
    // --data is writable with a read-only root file system.
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(container.volumeMounts.map((m: any) => m.mountPath)).toContain(flags.get('data'));
  });

  it('probes, Service and Ingress point at the listening port and at health routes that answer', async () => {
    const ports = new Map<string, number>(container.ports.map((p: any) => [p.name, p.containerPort]));
    expect(ports.get('http')).toBe(Number(flags.get('port')));
    const paths = new Set<string>();
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
      const { path, port } = container[probe].httpGet;
      expect(ports.get(port) ?? port, probe).toBe(Number(flags.get('port')));
      paths.add(path);
    }
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    for (const path of paths) {
      const response = await fetch(`${cloud!.url}${path}`);
      expect(response.status, path).toBe(200);
      expect(await response.json()).toEqual({ status: path === '/readyz' ? 'ready' : 'ok' });
    }
    expect(cloud!.output()).toContain('store: PostgreSQL');

    const service = cloudDocs.find((d) => d.kind === 'Service');
    expect(service.spec.selector).toEqual(deployment.spec.template.metadata.labels);
    expect(ports.has(service.spec.ports[0].targetPort)).toBe(true);
    const ingress = cloudDocs.find((d) => d.kind === 'Ingress');
    expect(ingress.spec.rules[0].host).toBe(new URL(flags.get('public-url')!).host);
    expect(ingress.spec.rules[0].http.paths[0].backend.service).toEqual({ name: service.metadata.name, port: { name: service.spec.ports[0].name } });
  });

  it('the client Deployment uses the SDK’s variables, and its token is for the cloud’s public URL where the SDK reads it', async () => {
    const sdk = await import('@tessera/sdk');
    const providers = await import('@tessera/providers');
    const sdkPackage = JSON.parse(readFileSync(join(ROOT, 'packages/sdk/package.json'), 'utf8'));
    expect(clientEnv.NODE_OPTIONS).toBe('--import @tessera/sdk/register');
    expect(sdkPackage.exports).toHaveProperty('./register');
    for (const name of Object.keys(clientEnv).filter((n) => n.startsWith('TESSERA_'))) expect(Object.keys(sdk.ENVIRONMENT)).toContain(name);
    expect(clientContainer.workingDir).toBeTruthy();

    const volume = clientPod.volumes.find((v: any) => v.projected);
    const token = volume.projected.sources[0].serviceAccountToken;
    expect(token.audience).toBe(clientEnv.TESSERA_CLOUD_URL);
    expect(token.audience).toBe(flags.get('public-url'));
    expect(token.expirationSeconds).toBeGreaterThanOrEqual(600); // the API server's minimum
    const mount = clientContainer.volumeMounts.find((m: any) => m.name === volume.name);
    expect(`${mount.mountPath}/${token.path}`).toBe(clientEnv.TESSERA_KUBERNETES_TOKEN_FILE ?? providers.DEFAULT_KUBERNETES_TOKEN_FILE);

    const serviceAccount = clientDocs.find((d) => d.kind === 'ServiceAccount');
    expect(clientPod.serviceAccountName).toBe(serviceAccount.metadata.name);
    const identities = JSON.parse(readFileSync(join(K8S, 'admin/client-workload.json'), 'utf8')).identities;
    expect(identities).toEqual([
      { claim: 'kubernetes.namespace', value: clientDeployment.metadata.namespace },
      { claim: 'kubernetes.serviceAccount', value: clientPod.serviceAccountName },
    ]);
  });

  it('the README configures the trust provider and client workload; a pod-shaped client then gets credentials', async () => {
    const configure = namedShellBlocks(join(K8S, 'README.md')).get('configure')!;
    const result = await runShell(configure, { cwd: ROOT, env: baseEnv({ TESSERA_URL: cloud!.url, TESSERA_ADMIN_KEY: adminKey }) });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/"name":"cluster-prod","type":"kubernetes-service-account"/);
    expect(result.stdout).toMatch(/"name":"shop-orders"/);
    const inline = JSON.parse(readFileSync(join(K8S, 'admin/trust-provider-inline-keys.json'), 'utf8'));
    const created = await api(cloud!.url, adminKey, 'POST', '/api/v1/trust-providers', inline);
    expect(created.status, JSON.stringify(created.body)).toBe(201);

    // A stand-in cluster issuer (discovery + keys on loopback) replaces the managed cluster's.
    const issuer = await startFakeIssuer();
    const apiKey = `sk_orders_${randomBytes(8).toString('hex')}`;
    const payments = await startKeyedApi(apiKey);
    try {
      const trust = await findByName(cloud!.url, adminKey, 'trust-providers', 'cluster-prod');
      await patch(cloud!.url, adminKey, 'trust-providers', trust.id, { config: { ...trust.config, issuer: issuer.issuer } });
      const client = await findByName(cloud!.url, adminKey, 'client-workloads', 'shop-orders');
      const post = async (kind: string, body: Record<string, unknown>) => (await api(cloud!.url, adminKey, 'POST', `/api/v1/${kind}`, body)).body;
      const server = await post('server-workloads', { name: 'payments', scheme: 'http', host: '127.0.0.1', port: payments.port, injection: { kind: 'header', name: 'authorization' } });
      const credential = await post('credential-providers', { name: 'payments-key', type: 'api-key', secrets: { apiKey } });
      await post('access-policies', { name: 'orders-pays', clientWorkloadIds: [client.id], serverWorkloadId: server.id, trustProviderIds: [trust.id], credentialProviderId: credential.id });

      const podToken = (namespace: string, serviceAccount: string) =>
        issuer.sign(
          {
            'kubernetes.io': {
              namespace,
              serviceaccount: { name: serviceAccount, uid: '5b1c7f2e-8a0e-4a57-9d0b-3f6a2c1e9d44' },
              pod: { name: `${serviceAccount}-7d9f8c6b5-x2k4q`, uid: '0f3e9a61-2b7c-4d8e-a1f5-6c2d9b8e7a10' },
              node: { name: 'node-1', uid: '0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e' },
            },
          },
          { audience: cloud!.url, subject: `system:serviceaccount:${namespace}:${serviceAccount}`, expiresIn: '1h' },
        );
      const runPod = async (token: string) => {
        const tokenFile = join(dataDir, `token-${randomBytes(4).toString('hex')}`);
        writeFileSync(tokenFile, token, { mode: 0o600 });
        const program = `try { const r = await fetch('${payments.url}/v1/charges'); console.log(r.status) } catch (e) { console.log(e.cause?.code, e.cause?.cause?.code) }`;
        return run(process.execPath, ['--input-type=module', '-e', program], {
          cwd: ROOT, // the pod's workingDir: where node_modules holds @tessera/sdk
          env: baseEnv({ ...clientEnv, TESSERA_CLOUD_URL: cloud!.url, TESSERA_KUBERNETES_TOKEN_FILE: tokenFile }),
        });
      };
      const [allowed, otherAccount] = await Promise.all([runPod(await podToken('shop', 'orders')), runPod(await podToken('shop', 'batch'))]);
      if (allowed.stdout.trim() !== '200') {
        // What the control plane held and said when the pod was refused, to tell a stale snapshot from a wrong request.
        const held = (await api(cloud!.url, adminKey, 'GET', '/api/v1/trust-providers')).body.items.map((t: any) => ({ name: t.name, enabled: t.enabled, issuer: t.config.issuer, resourceSetId: t.resourceSetId }));
        const sets = (await api(cloud!.url, adminKey, 'GET', '/api/v1/resource-sets')).body.items.map((s: any) => ({ id: s.id, name: s.name, enabled: s.enabled }));
        const again = await runPod(await podToken('shop', 'orders')); // transient (a stale snapshot) or lasting?
        const diagnosis = JSON.stringify({ issuer: issuer.issuer, held, sets, issuerRequests: issuer.requests, secondTry: again.stdout.trim() }, null, 1);
        expect.fail(`pod refused: ${allowed.stdout}\n${allowed.stderr}\n${diagnosis}\ncontrol plane output:\n${cloud!.output().slice(-6000)}`);
      }
      expect(allowed.stdout.trim(), allowed.stderr).toBe('200');
      expect(otherAccount.stdout.trim(), otherAccount.stderr).toBe('no_client_workload undefined');
      expect(payments.received).toEqual([{ path: '/v1/charges', ok: true }]);
    } finally {
      await issuer.close();
      await payments.close();
    }
  });
});
