/**
 * An application that never loads npm undici: after `--import @tessera/sdk/register`, Node's
 * built-in fetch keeps going through Node's own dispatcher, which carries Tessera's interceptor
 * itself — no npm undici `Agent` or `Dispatcher1Wrapper` in between; without a proxy in the
 * environment the SDK's own calls to the control plane do not load npm undici either. Run on the
 * built package, in a fresh process (the test runner's own process has npm undici loaded).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'tessera-builtin-dispatcher-'));
const servers: Server[] = [];

afterAll(() => {
  for (const server of servers) server.close();
});

function listen(handler: (request: IncomingMessage, body: string) => { status: number; body: unknown }): Promise<{ url: string; port: number; seen: IncomingMessage[] }> {
  const seen: IncomingMessage[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      seen.push(request);
      const answer = handler(request, body);
      response.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
    });
  });
  servers.push(server);
  return new Promise((ready) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      ready({ url: `http://127.0.0.1:${port}`, port, seen });
    }),
  );
}

function run(args: string[], env: Record<string, string>): Promise<{ output: string; code: number | null }> {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((done) => child.on('close', (code) => done({ output, code })));
}

const echo = (request: IncomingMessage) => ({ status: 200, body: { authorization: request.headers.authorization ?? null } });

describe("the built-in fetch on Node's own dispatcher", () => {
  it('managed gets its credential, a 401 is retried once with a fresh one, refused never leaves, unmanaged untouched — with no npm undici between fetch and the socket', async () => {
    const tokenFile = join(scratch, 'kubernetes-token');
    writeFileSync(tokenFile, 'header.payload.signature\n');
    let expired = 0;
    // '/expired' answers 401 the first time: the credential is dropped and the request sent again with a fresh one.
    const api = await listen((request) => (request.url === '/expired' && expired++ === 0 ? { status: 401, body: { error: 'expired' } } : echo(request)));
    const [refused, other] = await Promise.all([listen(echo), listen(echo)]);
    let issued = 0;
    const injection = { kind: 'header', name: 'authorization', format: 'Bearer {token}' };
    const target = (id: string, port: number) => ({ serverWorkloadId: id, name: id, scheme: 'http', host: '127.0.0.1', port, injection });
    const cloud = await listen((request, body) => {
      if (request.url === '/edge/v1/attest') {
        return {
          status: 200,
          body: { edgeToken: 'edge-token', expiresAt: new Date(Date.now() + 600_000).toISOString(), clientWorkload: { id: 'c', name: 'pod' }, directory: [target('api', api.port), target('refused', refused.port)] },
        };
      }
      if (request.url === '/edge/v1/credentials') {
        const { target: asked } = JSON.parse(body) as { target: { port: number } };
        if (asked.port === refused.port) return { status: 403, body: { code: 'no_matching_policy', message: 'no policy' } };
        issued += 1;
        return { status: 200, body: { credential: { kind: 'token', token: issued === 1 ? 'issued' : `issued-${issued}` }, injection, expiresAt: new Date(Date.now() + 600_000).toISOString(), serverWorkloadId: 'api', policyId: 'policy' } };
      }
      return { status: 202, body: {} };
    });
    const app = `
      const slot = Symbol.for('undici.globalDispatcher.1');
      const { createRequire } = await import('node:module');
      const loaded = () => Object.keys(createRequire(process.cwd() + '/').cache).some((file) => file.includes('/node_modules/undici/'));
      const body = async (url) => JSON.stringify(await (await fetch(url)).json());
      const managed = await body(${JSON.stringify(`${api.url}/first`)});
      const cached = await body(${JSON.stringify(`${api.url}/cached`)});
      let refusal;
      try { await fetch(${JSON.stringify(`${refused.url}/no`)}); } catch (error) { refusal = error.cause?.code; }
      const retried = await body(${JSON.stringify(`${api.url}/expired`)});
      const unmanaged = await body(${JSON.stringify(`${other.url}/free`)});
      const d = globalThis[slot];
      console.log(JSON.stringify({ managed, cached, refusal, retried, unmanaged, npmUndiciLoaded: loaded(), dispatcher: d.constructor.name, carries: Object.hasOwn(d, 'dispatch') }));`;
    const { output, code } = await run(['--import', '@tessera/sdk/register', '--input-type=module', '-e', app], {
      TESSERA_CLOUD_URL: cloud.url,
      TESSERA_KUBERNETES_TOKEN_FILE: tokenFile,
    });
    expect(code, output).toBe(0);
    const result = output.split('\n').find((line) => line.startsWith('{"managed"'));
    expect(result, output).toBeDefined();
    expect(JSON.parse(result!)).toEqual({
      managed: '{"authorization":"Bearer issued"}',
      cached: '{"authorization":"Bearer issued"}',
      refusal: 'no_matching_policy',
      retried: '{"authorization":"Bearer issued-2"}',
      unmanaged: '{"authorization":null}',
      npmUndiciLoaded: false,
      dispatcher: 'Agent',
      carries: true,
    });
    expect(refused.seen).toHaveLength(0);
  });

  it('when the SDK loads npm undici for a proxy named in the environment, the built-in fetch still keeps Node’s dispatcher', async () => {
    const tokenFile = join(scratch, 'kubernetes-token-proxy');
    writeFileSync(tokenFile, 'header.payload.signature\n');
    const api = await listen(echo);
    const injection = { kind: 'header', name: 'authorization', format: 'Bearer {token}' };
    const cloud = await listen((request) => {
      if (request.url === '/edge/v1/attest') {
        const directory = [{ serverWorkloadId: 'api', name: 'api', scheme: 'http', host: '127.0.0.1', port: api.port, injection }];
        return { status: 200, body: { edgeToken: 'edge-token', expiresAt: new Date(Date.now() + 600_000).toISOString(), clientWorkload: { id: 'c', name: 'pod' }, directory } };
      }
      if (request.url === '/edge/v1/credentials') {
        return { status: 200, body: { credential: { kind: 'token', token: 'issued' }, injection, expiresAt: new Date(Date.now() + 600_000).toISOString(), serverWorkloadId: 'api', policyId: 'policy' } };
      }
      return { status: 202, body: {} };
    });
    const app = `
      const npm = (await import('node:module')).createRequire(process.cwd() + '/')('undici');
      const managed = JSON.stringify(await (await fetch(${JSON.stringify(`${api.url}/through-node`)})).json());
      const d = globalThis[Symbol.for('undici.globalDispatcher.1')];
      console.log(JSON.stringify({ managed, npmDispatcher: d instanceof npm.Dispatcher, carries: Object.hasOwn(d, 'dispatch') }));`;
    // The proxy is named but not used for loopback (NO_PROXY): what matters is that its agent is npm undici's.
    const { output, code } = await run(['--import', '@tessera/sdk/register', '--input-type=module', '-e', app], {
      TESSERA_CLOUD_URL: cloud.url,
      TESSERA_KUBERNETES_TOKEN_FILE: tokenFile,
      HTTP_PROXY: 'http://127.0.0.1:9',
      NO_PROXY: '127.0.0.1',
    });
    expect(code, output).toBe(0);
    const result = output.split('\n').find((line) => line.startsWith('{"managed"'));
    expect(result, output).toBeDefined();
    expect(JSON.parse(result!)).toEqual({ managed: '{"authorization":"Bearer issued"}', npmDispatcher: false, carries: true });
  });
});
