import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT, createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';

/** Helpers for tests that run the examples' READMEs and scripts as a user would. */

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** The environment every child gets: the project's Node first on the PATH, nothing else inherited. */
export function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: [join(ROOT, 'node_modules/.bin'), process.env.PATH ?? ''].join(delimiter),
    HOME: process.env.HOME ?? '/tmp',
    ...extra,
  };
}

/**
 * Flags for the tests' `npm install` runs: the registry's packages from npm's cache when it has
 * them, and a stalled registry request retried after 20 s instead of npm's default 5 minutes.
 */
export const NPM_INSTALL_FLAGS = ['--prefer-offline', '--no-audit', '--no-fund', '--fetch-timeout=20000', '--fetch-retries=5', '--fetch-retry-mintimeout=1000', '--fetch-retry-maxtimeout=5000'];

/** The machine's PATH without the project's Node that npm and npx put first: what a reader's terminal has. */
export const MACHINE_PATH = (process.env.PATH ?? '').split(delimiter).filter((dir) => !dir.includes('node_modules')).join(delimiter);

/** The tools of `tools` that are not on the PATH. */
export function missingTools(...tools: string[]): string[] {
  return tools.filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
}

/** Fails early, with a clear message, when a README's tools are missing. */
export function requireTools(...tools: string[]): void {
  const missing = missingTools(...tools);
  if (missing.length > 0) throw new Error(`the examples' READMEs need ${missing.join(', ')} on the PATH`);
}

/**
 * Fenced blocks of a Markdown file, in order, with their info string (`sh`, `json`, `js` ...)
 * and the line of their opening fence; a list item's indent is removed.
 */
export function codeBlocks(markdownFile: string): Array<{ line: number; lang: string; text: string }> {
  const markdown = readFileSync(markdownFile, 'utf8');
  return [...markdown.matchAll(/^( *)```(\w*)\n([\s\S]*?)^\1```$/gm)].map((m) => ({
    line: markdown.slice(0, m.index).split('\n').length,
    lang: m[2]!,
    text: m[3]!
      .split('\n')
      .map((line) => line.slice(m[1]!.length))
      .join('\n'),
  }));
}

/**
 * The `sh` blocks of a README that start with a `# <name>` comment line, by name. These are the
 * blocks a test runs; the comment is part of what the reader sees and copies.
 */
export function namedShellBlocks(markdownFile: string): Map<string, string> {
  const blocks = new Map<string, string>();
  for (const block of codeBlocks(markdownFile)) {
    if (block.lang !== 'sh') continue;
    const name = /^# ([a-z0-9 -]+)\n/.exec(block.text)?.[1];
    if (name === undefined) continue;
    if (blocks.has(name)) throw new Error(`${markdownFile}: two sh blocks named "${name}"`);
    blocks.set(name, block.text);
  }
  return blocks;
}

/** Signals a process started with `detached: true` and everything it started (its process group). */
export function killGroup(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

export interface ShellResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a README block with bash (as a reader pasting it would, but stopping at the first failure). */
export function runShell(script: string, options: { cwd: string; env: Record<string, string>; timeoutMs?: number }): Promise<ShellResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', `set -euo pipefail\n${script}`], { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      killGroup(child.pid!);
      reject(new Error(`timed out after ${options.timeoutMs ?? 45_000} ms:\n${script}\n${stdout}${stderr}`));
    }, options.timeoutMs ?? 45_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface Background {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves once the output matches; rejects when the process exits first or time runs out. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** SIGTERM to the whole process group (bash, npx, the server under it), SIGKILL after 8 s. */
  stop(): Promise<void>;
}

/**
 * Starts a long-running README block ("terminal 1") with bash in its own process group, so that
 * everything it starts can be stopped together.
 */
export function startShell(script: string, options: { cwd: string; env: Record<string, string> }): Background {
  const child = spawn('bash', ['-c', script], { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  const listeners = new Set<() => void>();
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  let exited = false;
  child.on('exit', () => {
    exited = true;
    for (const listener of listeners) listener();
  });
  const groupAlive = () => {
    try {
      process.kill(-child.pid!, 0);
      return true;
    } catch {
      return false;
    }
  };
  return {
    child,
    output: () => output,
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`timed out waiting for ${pattern}:\n${output}`)), timeoutMs);
        const check = () => {
          const match = pattern.exec(output);
          if (match) done(undefined, match);
          else if (exited) done(new Error(`exited before printing ${pattern}:\n${output}`));
        };
        function done(error?: Error, match?: RegExpExecArray) {
          clearTimeout(timer);
          listeners.delete(check);
          if (error) reject(error);
          else resolve(match!);
        }
        listeners.add(check);
        check();
      });
    },
    async stop() {
      if (child.pid === undefined || !groupAlive()) return;
      process.kill(-child.pid, 'SIGTERM');
      const deadline = Date.now() + 8_000;
      while (groupAlive() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      if (groupAlive()) process.kill(-child.pid, 'SIGKILL');
    },
  };
}

/** Runs a process to completion (a workload's one-shot script). */
export function run(command: string, args: string[], options: { cwd: string; env: Record<string, string>; timeoutMs?: number }): Promise<ShellResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      killGroup(child.pid!);
      reject(new Error(`${command} ${args.join(' ')} did not exit within ${options.timeoutMs ?? 45_000} ms:\n${stdout}${stderr}`));
    }, options.timeoutMs ?? 45_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A free loopback port (closed again: a README command binds it next). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => resolve(body));
  });
}

const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

/**
 * The GitHub Actions runner's token service, on loopback: answers
 * `GET <ACTIONS_ID_TOKEN_REQUEST_URL>&audience=<aud>` with `{"count", "value"}` when the bearer is
 * the job's request token, like GitHub's; signs GitHub-shaped ID tokens (RS256) and serves the
 * issuer's discovery document and JWKS.
 */
export async function startFakeGitHubRunner() {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'runner-key-1', alg: 'RS256', use: 'sig' };
  const requests: Array<{ audience: string | null; authorized: boolean }> = [];
  /** Each job gets its own request token; the token says which job's claims to sign. */
  const jobs = new Map<string, Record<string, string>>();
  let issuer = '';
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', issuer);
    response.setHeader('content-type', 'application/json');
    if (url.pathname === '/.well-known/openid-configuration') return void response.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/.well-known/jwks` }));
    if (url.pathname === '/.well-known/jwks') return void response.end(JSON.stringify({ keys: [jwk] }));
    if (url.pathname !== '/idtoken') return void ((response.statusCode = 404), response.end('{}'));
    const given = Buffer.from(/^bearer (.+)$/i.exec(request.headers.authorization ?? '')?.[1] ?? '');
    const job = [...jobs].find(([token]) => given.length === token.length && timingSafeEqual(given, Buffer.from(token)))?.[1];
    const audience = url.searchParams.get('audience');
    requests.push({ audience, authorized: job !== undefined });
    if (job === undefined || url.searchParams.get('api-version') !== '2.0') return void ((response.statusCode = 401), response.end('{"message":"Unauthorized"}'));
    const [owner] = (job.repository ?? 'acme/shop').split('/');
    const claims = {
      ref: 'refs/heads/main',
      sha: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4',
      repository: 'acme/shop',
      repository_owner: owner!,
      repository_owner_id: '1234567',
      run_id: '9876543210',
      run_number: '42',
      run_attempt: '1',
      repository_visibility: 'private',
      repository_id: '7654321',
      actor_id: '583231',
      actor: 'octocat',
      workflow: 'Record the release',
      head_ref: '',
      base_ref: '',
      event_name: 'push',
      ref_protected: 'true',
      ref_type: 'branch',
      workflow_ref: 'acme/shop/.github/workflows/call-protected-api.yml@refs/heads/main',
      workflow_sha: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4',
      job_workflow_ref: 'acme/shop/.github/workflows/call-protected-api.yml@refs/heads/main',
      job_workflow_sha: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4',
      runner_environment: 'github-hosted',
      ...job,
    };
    void new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: jwk.kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setSubject(`repo:${claims.repository}:ref:${claims.ref}`)
      .setAudience(audience ?? issuer)
      .setJti(randomUUID())
      .setIssuedAt()
      .setNotBefore('0s')
      .setExpirationTime('5m')
      .sign(privateKey)
      .then((value) => response.end(JSON.stringify({ count: value.length, value })));
  });
  issuer = await listen(server);
  return {
    issuer,
    jwksUri: `${issuer}/.well-known/jwks`,
    requests,
    /**
     * What the runner puts in the environment of a job with `id-token: write`; its tokens carry
     * these claims over GitHub-shaped defaults (acme/shop, a push to main).
     */
    jobEnv(claims: Record<string, string> = {}) {
      const requestToken = `runner-request-token-${randomUUID()}`;
      jobs.set(requestToken, claims);
      return { ACTIONS_ID_TOKEN_REQUEST_URL: `${issuer}/idtoken?api-version=2.0`, ACTIONS_ID_TOKEN_REQUEST_TOKEN: requestToken };
    },
    close: () => close(server),
  };
}

/**
 * A releases API that accepts only JWTs the Tessera control plane signed for it
 * (`workload-jwt`): checked against the control plane's JWKS, issuer and the API's audience.
 */
export async function startReleasesApi(cloudUrl: string, audience: string) {
  const jwks = createRemoteJWKSet(new URL(`${cloudUrl}/.well-known/jwks.json`));
  const received: Array<{ subject: string | undefined; body: any; status: number }> = [];
  const server = createServer(async (request, response) => {
    const body = await readBody(request);
    const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1] ?? '';
    let subject: string | undefined;
    try {
      subject = (await jwtVerify(token, jwks, { issuer: cloudUrl, audience, algorithms: ['ES256'] })).payload.sub;
    } catch {
      subject = undefined;
    }
    const ok = subject !== undefined && request.method === 'POST' && request.url === '/v1/releases';
    const parsed = (() => {
      try {
        return JSON.parse(body);
      } catch {
        return undefined;
      }
    })();
    received.push({ subject, body: parsed, status: ok ? 201 : 401 });
    response.writeHead(ok ? 201 : 401, { 'content-type': 'application/json' });
    response.end(JSON.stringify(ok ? { id: `rel_${received.length}`, repository: parsed?.repository, sha: parsed?.sha, recordedFor: subject } : { error: 'a valid token is required' }));
  });
  const url = await listen(server);
  return { url, port: Number(new URL(url).port), received, close: () => close(server) };
}

/** An API that accepts one API key, and counts what reaches it. */
export async function startKeyedApi(apiKey: string) {
  const received: Array<{ path: string; ok: boolean }> = [];
  const expected = Buffer.from(`Bearer ${apiKey}`);
  const server = createServer((request, response) => {
    const given = Buffer.from(request.headers.authorization ?? '');
    const ok = given.length === expected.length && timingSafeEqual(given, expected);
    received.push({ path: request.url ?? '', ok });
    response.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
    response.end(JSON.stringify(ok ? { orders: [{ id: 'o-1' }] } : { error: 'invalid api key' }));
  });
  const url = await listen(server);
  return { url, port: Number(new URL(url).port), received, close: () => close(server) };
}
