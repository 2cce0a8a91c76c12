import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MACHINE_PATH, ROOT } from './support/examples.js';

/**
 * An application started with a Node.js older than the SDK supports (undici 8 needs 22.19) gets
 * one line that names the required version, and its own code does not run; `import` of the SDK
 * still works, so that `init()` and `withTessera()` can say the same as a typed error. Run with
 * the machine's own Node (outside the project's pinned one), as a user's service would be.
 */

const SDK_ENGINES = JSON.parse(readFileSync(join(ROOT, 'packages/sdk/package.json'), 'utf8')).engines.node as string;
const CLOUD_ENGINES = JSON.parse(readFileSync(join(ROOT, 'packages/cloud-server/package.json'), 'utf8')).engines.node as string;
const REQUIRED = SDK_ENGINES.replace(/^>=/, '');

/** The machine's own `node` (not the project's), if it is older than the SDK needs. */
function machineNode(): { path: string; version: string } | undefined {
  const found = spawnSync('sh', ['-c', 'command -v node'], { env: { PATH: MACHINE_PATH }, encoding: 'utf8' }).stdout.trim();
  if (found === '') return undefined;
  const version = spawnSync(found, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const [major = 0, minor = 0] = version.slice(1).split('.').map(Number);
  const [needMajor = 0, needMinor = 0] = REQUIRED.split('.').map(Number);
  return major < needMajor || (major === needMajor && minor < needMinor) ? { path: found, version } : undefined;
}

const old = machineNode();

const run = (args: string[]) =>
  spawnSync(old!.path, args, {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 20_000,
    env: { PATH: MACHINE_PATH, HOME: process.env.HOME ?? '/tmp', TESSERA_CLOUD_URL: 'http://127.0.0.1:1' },
  });

describe.skipIf(old === undefined)(`on an older Node.js (${old?.path} ${old?.version})`, () => {
  it('the register hook prints one line naming the required version, exits 1, and the application does not run', () => {
    const result = run(['--import', '@tessera/sdk/register', '-e', 'console.log("the application ran")']);
    expect(result.stderr).toBe(`@tessera/sdk: Node.js ${REQUIRED} or newer is required (this is ${old!.version})\n`);
    expect(result.stdout).toBe('');
    expect(result.status).toBe(1);
  });

  it('import works; init(), withTessera() and new Tessera() throw TesseraConfigurationError unsupported_node', () => {
    const script = `
      import { init, withTessera, Tessera, TesseraConfigurationError } from '@tessera/sdk';
      const outcome = async (f) => { try { await f(); return 'no error'; } catch (error) { return \`\${error instanceof TesseraConfigurationError} \${error.code}: \${error.message}\`; } };
      console.log('init:', await outcome(() => init({ cloudUrl: 'http://127.0.0.1:1' })));
      console.log('withTessera:', await outcome(() => withTessera(async () => 'handled')));
      console.log('new Tessera:', await outcome(() => new Tessera({ cloudUrl: 'http://127.0.0.1:1' })));
    `;
    const result = run(['--input-type=module', '-e', script]);
    const line = `true unsupported_node: Node.js ${REQUIRED} or newer is required (this is ${old!.version})`;
    expect(result.stdout).toBe(`init: ${line}\nwithTessera: ${line}\nnew Tessera: ${line}\n`);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it("tessera-cloud says the same of the control plane's version", () => {
    const result = run(['packages/cloud-server/bin/tessera-cloud.js', 'start']);
    expect(result.stderr).toBe(`tessera-cloud: Node.js ${CLOUD_ENGINES.replace(/^>=/, '')} or newer is required (this is ${old!.version})\n`);
    expect(result.status).toBe(1);
  });
});
