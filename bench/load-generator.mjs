// A closed-loop HTTP load generator for POST /edge/v1/credentials, run as its own process so it
// does not share the server's event loop. Every request carries a fresh DPoP proof; proofs are
// signed before the timed phase so the generator's own crypto does not cap the measurement.
//
// Input (argv[2], JSON): { url, issuer, edgeToken, privateJwk, publicJwk, target, connections,
//                          durationSeconds, warmupSeconds }
// Output (stdout, JSON): { requests, errors, statuses, rps, p50, p90, p99, max } (latencies in ms)
import { createHash, createPrivateKey, randomUUID, sign } from 'node:crypto';
import { Pool } from 'undici';

const input = JSON.parse(process.argv[2]);
const { url, issuer, edgeToken, target, connections, durationSeconds, warmupSeconds } = input;
const key = createPrivateKey({ key: input.privateJwk, format: 'jwk' });
const ath = createHash('sha256').update(edgeToken).digest('base64url');
const htu = `${issuer}/edge/v1/credentials`;

// Enough proofs for the run at a generous rate; the server refuses a reused proof.
const needed = Math.ceil((durationSeconds + warmupSeconds) * 9000);
const proofs = [];
const iat = Math.floor(Date.now() / 1000);
const header = Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'dpop+jwt', jwk: input.publicJwk })).toString('base64url');
for (let i = 0; i < needed; i++) {
  const payload = Buffer.from(JSON.stringify({ htm: 'POST', htu, jti: randomUUID(), ath, iat })).toString('base64url');
  const signature = sign('sha256', Buffer.from(`${header}.${payload}`), { key, dsaEncoding: 'ieee-p1363' });
  proofs.push(`${header}.${payload}.${signature.toString('base64url')}`);
}

const pool = new Pool(url, { connections, pipelining: 1 });
const body = JSON.stringify({ target });
let next = 0;
const latencies = [];
const statuses = {};
let errors = 0;
let recording = false;
let stop = false;

async function loop() {
  while (!stop) {
    const proof = proofs[next++];
    if (proof === undefined) throw new Error('ran out of proofs: raise the proof budget');
    const started = process.hrtime.bigint();
    try {
      const response = await pool.request({
        method: 'POST',
        path: '/edge/v1/credentials',
        headers: { 'content-type': 'application/json', authorization: `DPoP ${edgeToken}`, dpop: proof },
        body,
      });
      await response.body.dump();
      if (recording) {
        latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
        statuses[response.statusCode] = (statuses[response.statusCode] ?? 0) + 1;
        if (response.statusCode !== 200) errors++;
      }
    } catch {
      if (recording) errors++;
    }
  }
}

const loops = Array.from({ length: connections }, loop);
await new Promise((resolve) => setTimeout(resolve, warmupSeconds * 1000));
recording = true;
const started = performance.now();
await new Promise((resolve) => setTimeout(resolve, durationSeconds * 1000));
recording = false;
const elapsed = (performance.now() - started) / 1000;
stop = true;
await Promise.all(loops);
await pool.close();

latencies.sort((a, b) => a - b);
const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
process.stdout.write(
  JSON.stringify({
    requests: latencies.length,
    errors,
    statuses,
    rps: latencies.length / elapsed,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: latencies[latencies.length - 1] ?? NaN,
  }) + '\n',
);
