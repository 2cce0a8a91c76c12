import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startCloud, type CloudProcess } from './support/cloud-process.js';
import { run } from './support/examples.js';
import { startFakeIssuer } from './support/fake-services.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const REGISTER = fileURLToPath(new URL('../../packages/sdk/dist/register.js', import.meta.url));
const SUBJECT = 'system:serviceaccount:shop:flags';

/**
 * Node's command-line limits on HTTP traffic are the application's: the SDK's own calls to the
 * control plane keep working under them, and the application's requests keep them. (Found by
 * undici's fetch suite run with the SDK preloaded: under `--max-http-header-size=1` the register
 * hook could not read the control plane's answer, and the process exited with code 0 without
 * running the application.)
 */
describe('the register hook under the application\'s node flags', () => {
  let dataDir: string;
  let cloud: CloudProcess;
  let issuer: Awaited<ReturnType<typeof startFakeIssuer>>;
  let target: Server;
  let env: Record<string, string>;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'tessera-e2e-flags-'));
    issuer = await startFakeIssuer();
    cloud = await startCloud(['--data', dataDir]);
    const admin = (path: string, body: Record<string, unknown>) => api(cloud.url, cloud.bootstrapKey!, 'POST', `/api/v1/${path}`, body);
    await admin('trust-providers', { name: 'cluster', type: 'oidc', config: { issuer: issuer.issuer, discovery: true, algorithms: ['ES256'] } });
    await admin('client-workloads', { name: 'flags', identities: [{ claim: 'oidc.subject', value: SUBJECT }] });
    target = createServer((_request, response) => response.end('unmanaged'));
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    env = {
      PATH: process.env.PATH ?? '',
      TESSERA_CLOUD_URL: cloud.url,
      TESSERA_COLLECTORS: 'oidc',
      TESSERA_OIDC_TOKEN: await issuer.sign({}, { audience: cloud.url, subject: SUBJECT }),
      TESSERA_LOG_LEVEL: 'info',
    };
  });

  afterAll(async () => {
    target?.close();
    await cloud?.stop();
    await issuer?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('--max-http-header-size=1: the process attests and runs; its own fetch still hits the limit', async () => {
    const url = `http://127.0.0.1:${(target.address() as AddressInfo).port}/`;
    const app = `console.log('application ran'); fetch(${JSON.stringify(url)}).then(() => console.log('answered'), (error) => console.log('fetch failed:', error.cause?.code))`;
    const result = await run(process.execPath, ['--max-http-header-size=1', '--import', REGISTER, '-e', app], { cwd: ROOT, env, timeoutMs: 20_000 });
    expect(result.stderr).toContain('tessera: attested');
    expect(result.stdout).toContain('application ran');
    expect(result.stdout).toContain('fetch failed: UND_ERR_HEADERS_OVERFLOW');
    expect(result.code).toBe(0);
  });
});
