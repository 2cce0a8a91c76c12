// The server workloads of the SDK end-to-end test, in a process of their own:
// - payments: accepts only `Authorization: Bearer $PAYMENTS_KEY`;
// - ledger:   the same check; the client's policy for it is denied by a time-window condition;
// - reports:  accepts only a JWT signed by the Tessera cloud (verified against its JWKS);
// - s3:       a loopback S3 that verifies SigV4 signatures for real;
// - echo:     not known to Tessera; records the raw bytes of every request it receives.
// Each records what reached it; `GET /received` on the control port returns the records.
// Prints one JSON line with the ports once everything listens.
import { createServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startFakeS3 } from '../../../packages/sdk/test/support/fake-s3.ts';

const { PAYMENTS_KEY, CLOUD_URL, JWT_AUDIENCE, AWS_ACCESS_KEY_ID_FAKE, AWS_SECRET_FAKE, AWS_SESSION_TOKEN_FAKE } = process.env;
const received = { payments: [], ledger: [], reports: [], echo: [], connections: { payments: 0, ledger: 0, reports: 0, echo: 0 } };

function keyCheck(name) {
  return (req, res, body) => {
    const expected = Buffer.from(`Bearer ${PAYMENTS_KEY}`);
    const got = Buffer.from(req.headers.authorization ?? '');
    const ok = got.length === expected.length && timingSafeEqual(got, expected);
    received[name].push({ method: req.method, url: req.url, authorization: req.rawHeaders.filter((_, i, all) => i % 2 === 1 && all[i - 1].toLowerCase() === 'authorization'), body: body.toString() });
    res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
    res.end(JSON.stringify(ok ? { service: name, ok: true } : { error: 'invalid api key' }));
  };
}

const jwks = createRemoteJWKSet(new URL(`${CLOUD_URL}/.well-known/jwks.json`));
async function reports(req, res, body) {
  const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  let subject;
  try {
    const { payload } = await jwtVerify(token ?? '', jwks, { issuer: CLOUD_URL, audience: JWT_AUDIENCE, algorithms: ['ES256'] });
    subject = payload.sub;
  } catch {
    subject = undefined;
  }
  received.reports.push({ method: req.method, url: req.url, subject, body: body.toString() });
  res.writeHead(subject ? 200 : 401, { 'content-type': 'application/json' });
  res.end(JSON.stringify(subject ? { service: 'reports', subject } : { error: 'invalid token' }));
}

function http(name, handler) {
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => void handler(req, res, Buffer.concat(chunks)));
  });
  server.on('connection', () => (received.connections[name] += 1));
  return listen(server);
}

/** The echo service reads raw bytes off the socket: what the client sent, exactly. */
function echo() {
  const server = createTcpServer((socket) => {
    received.connections.echo += 1;
    const chunks = [];
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      const raw = Buffer.concat(chunks);
      const headerEnd = raw.indexOf('\r\n\r\n');
      if (headerEnd < 0) return;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(raw.subarray(0, headerEnd).toString())?.[1] ?? 0);
      if (raw.length < headerEnd + 4 + length) return;
      received.echo.push({ raw: raw.subarray(0, headerEnd + 4 + length).toString('base64') });
      chunks.length = 0;
      socket.end('HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\necho');
    });
  });
  return listen(server);
}

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

const s3 = await startFakeS3({
  credentials: [{ accessKeyId: AWS_ACCESS_KEY_ID_FAKE, secretAccessKey: AWS_SECRET_FAKE, sessionToken: AWS_SESSION_TOKEN_FAKE }],
});
const ports = {
  payments: await http('payments', keyCheck('payments')),
  ledger: await http('ledger', keyCheck('ledger')),
  reports: await http('reports', reports),
  echo: await echo(),
  s3: s3.port,
};
const control = createServer((req, res) => {
  const s3Requests = s3.requests.map((r) => ({ method: r.method, path: r.path, verified: r.verified, error: r.error }));
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ ...received, s3: s3Requests, s3Objects: Object.fromEntries([...s3.objects].map(([k, v]) => [k, v.toString()])) }));
});
ports.control = await listen(control);
process.stdout.write(`${JSON.stringify(ports)}\n`);
