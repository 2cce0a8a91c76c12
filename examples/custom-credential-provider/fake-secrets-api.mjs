#!/usr/bin/env node
// Stand-ins for two internal services, in one process, for trying the example:
//
// - the secrets API: POST /v1/roles/<role>/leases with `Authorization: Bearer $SECRETS_API_TOKEN`
//   and {"ttlSeconds": N} answers 201 {"username", "password", "expiresAt"}: a fresh user of
//   that role that lives N seconds (at most 3600). It knows one role, `inventory-reader`.
// - the inventory API: GET /v1/items needs HTTP Basic credentials of a live
//   `inventory-reader` lease, as a database with dynamic users would.
//
// Env: SECRETS_API_TOKEN (required, at least 20 characters), SECRETS_API_PORT (default 8201),
// INVENTORY_API_PORT (default 8202); 0 picks a free port. Both listen on 127.0.0.1. Every
// request is logged as one JSON line on stdout, without passwords or tokens.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

const TOKEN = process.env.SECRETS_API_TOKEN ?? '';
if (TOKEN.length < 20) {
  process.stderr.write('fake-secrets-api: set SECRETS_API_TOKEN (at least 20 characters)\n');
  process.exit(1);
}
const ROLES = new Set(['inventory-reader']);
const MAX_TTL_SECONDS = 3600;
/** username -> { password, role, expiresAt (ms) } */
const leases = new Map();

const log = (entry) => process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`);
const sameSecret = (given, expected) => {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
};
const send = (res, status, body, headers = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
};
const readJson = (req) =>
  new Promise((resolve) => {
    let text = '';
    req.on('data', (chunk) => (text.length < 65_536 ? (text += chunk) : undefined));
    req.on('end', () => {
      try {
        resolve(JSON.parse(text));
      } catch {
        resolve(undefined);
      }
    });
  });

const secretsApi = createServer(async (req, res) => {
  const role = /^\/v1\/roles\/([a-z][a-z0-9-]*)\/leases$/.exec(req.url ?? '')?.[1];
  const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
  if (req.method !== 'POST' || role === undefined) return send(res, 404, { error: 'not_found' });
  if (!sameSecret(bearer, TOKEN)) {
    log({ service: 'secrets-api', role, status: 401 });
    return send(res, 401, { error: 'invalid_token' });
  }
  if (!ROLES.has(role)) return send(res, 404, { error: 'unknown_role' });
  const body = await readJson(req);
  const ttlSeconds = Math.min(Number.isInteger(body?.ttlSeconds) && body.ttlSeconds > 0 ? body.ttlSeconds : 300, MAX_TTL_SECONDS);
  const username = `v-${role}-${randomBytes(4).toString('hex')}`;
  const password = randomBytes(24).toString('base64url');
  const expiresAt = Date.now() + ttlSeconds * 1000;
  leases.set(username, { password, role, expiresAt });
  log({ service: 'secrets-api', role, lease: username, ttlSeconds, requestedBy: body?.requestedBy ?? null, status: 201 });
  send(res, 201, { username, password, expiresAt: new Date(expiresAt).toISOString() });
});

const inventoryApi = createServer((req, res) => {
  const basic = /^Basic ([A-Za-z0-9+/=]+)$/.exec(req.headers.authorization ?? '')?.[1];
  const decoded = basic === undefined ? '' : Buffer.from(basic, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon > 0 ? decoded.slice(0, colon) : undefined;
  const lease = user === undefined ? undefined : leases.get(user);
  const valid = lease !== undefined && lease.role === 'inventory-reader' && lease.expiresAt > Date.now() && sameSecret(decoded.slice(colon + 1), lease.password);
  const path = (req.url ?? '/').split('?')[0];
  log({ service: 'inventory-api', method: req.method, path, user: user ?? null, status: valid ? 200 : 401 });
  if (!valid) return send(res, 401, { error: 'a live inventory-reader lease is required' }, { 'www-authenticate': 'Basic realm="inventory"' });
  send(res, 200, { items: [{ sku: 'BOLT-M8', stock: 1200 }, { sku: 'NUT-M8', stock: 950 }], caller: user });
});

const listen = (server, port) =>
  new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(`http://127.0.0.1:${server.address().port}`));
  });

const secretsUrl = await listen(secretsApi, Number(process.env.SECRETS_API_PORT ?? 8201));
const inventoryUrl = await listen(inventoryApi, Number(process.env.INVENTORY_API_PORT ?? 8202));
process.stdout.write(`secrets API:   ${secretsUrl}\ninventory API: ${inventoryUrl}\n`);
process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
