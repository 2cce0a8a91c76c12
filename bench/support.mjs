// Shared by the benchmarks: start the built control plane as a process, drive its APIs.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';

const CLI = fileURLToPath(new URL('../packages/cloud-server/dist/cli.js', import.meta.url));

export async function startCloudProcess(args) {
  // BENCH_SERVER_NODE_OPTIONS (e.g. --cpu-prof) applies to the control plane only, not the load generator.
  // The benchmarks' issuers and token servers are stand-ins on loopback.
  const env = { ...process.env, NODE_OPTIONS: process.env.BENCH_SERVER_NODE_OPTIONS ?? '', TESSERA_PROVIDER_EGRESS_ALLOW: '127.0.0.0/8,::1' };
  const child = spawn(process.execPath, [CLI, 'start', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const url = await new Promise((resolve, reject) => {
    const check = () => {
      const match = /listening on (http:\/\/[^\s]+)/.exec(output);
      if (match) resolve(match[1]);
    };
    child.stdout.on('data', check);
    exited.then((code) => reject(new Error(`control plane exited with ${code}:\n${output}`)));
  });
  const bootstrapKey = /(tsk_[A-Za-z0-9_-]+)/.exec(output)?.[1];
  return {
    url,
    bootstrapKey,
    pid: child.pid,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export function adminClient(base, key) {
  const call = async (method, path, body) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    const parsed = text ? JSON.parse(text) : undefined;
    if (response.status >= 400) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return parsed;
  };
  return {
    call,
    create: (plural, body) => call('POST', `/api/v1/${plural}`, body),
    async findByName(plural, name) {
      return (await call('GET', `/api/v1/${plural}?name=${encodeURIComponent(name)}`)).items[0];
    },
    async count(plural) {
      let total = 0;
      let cursor = null;
      do {
        const page = await call('GET', `/api/v1/${plural}?limit=500${cursor ? `&cursor=${cursor}` : ''}`);
        total += page.items.length;
        cursor = page.nextCursor;
      } while (cursor);
      return total;
    },
    /** Attests as the SDK does: the evidence, and a DPoP proof signed by the SDK's key. */
    async attest(token, privateKey, publicJwk) {
      const proof = await new SignJWT({ htm: 'POST', htu: `${base}/edge/v1/attest`, jti: randomUUID() })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: publicJwk })
        .setIssuedAt()
        .sign(privateKey);
      const response = await fetch(`${base}/edge/v1/attest`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', dpop: proof },
        body: JSON.stringify({ evidence: { type: 'jwt', token } }),
      });
      const body = await response.json();
      if (response.status !== 200) throw new Error(`attest: ${response.status} ${JSON.stringify(body)}`);
      return body;
    },
  };
}
