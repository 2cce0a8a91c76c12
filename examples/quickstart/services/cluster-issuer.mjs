// Stands in for a Kubernetes cluster's service-account issuer: serves OIDC discovery and its
// JWKS, and keeps a projected service-account token on disk for each service account, renewed
// like the kubelet renews them. Env: TOKEN_DIR, AUDIENCE (the Tessera cloud URL), ACCOUNTS
// (`namespace/name,...`). Prints one JSON line `{ "issuer": ... }` when ready.
import { randomUUID } from 'node:crypto';
import { writeFileSync, renameSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';

const { TOKEN_DIR, AUDIENCE, ACCOUNTS } = process.env;
const LIFETIME_SECONDS = 600;
const { privateKey, publicKey } = await generateKeyPair('ES256');
const jwk = { ...(await exportJWK(publicKey)), kid: 'cluster-key-1', alg: 'ES256', use: 'sig' };

let issuer = '';
const server = createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  if (req.url === '/.well-known/openid-configuration') return res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/openid/v1/jwks` }));
  if (req.url === '/openid/v1/jwks') return res.end(JSON.stringify({ keys: [jwk] }));
  res.statusCode = 404;
  res.end('{}');
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
issuer = `http://127.0.0.1:${server.address().port}`;

const uids = new Map();
async function project(account) {
  const [namespace, name] = account.split('/');
  if (!uids.has(account)) uids.set(account, randomUUID());
  const token = await new SignJWT({
    'kubernetes.io': { namespace, serviceaccount: { name, uid: uids.get(account) }, pod: { name: `${name}-7d9f8`, uid: randomUUID() } },
  })
    .setProtectedHeader({ alg: 'ES256', kid: jwk.kid, typ: 'JWT' })
    .setIssuer(issuer)
    .setAudience(AUDIENCE)
    .setSubject(`system:serviceaccount:${namespace}:${name}`)
    .setIssuedAt()
    .setExpirationTime(`${LIFETIME_SECONDS}s`)
    .sign(privateKey);
  // Write-then-rename, as the kubelet does: a reader never sees half a token.
  const file = join(TOKEN_DIR, `${namespace}-${name}.token`);
  writeFileSync(`${file}.tmp`, token, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

const accounts = ACCOUNTS.split(',');
for (const account of accounts) await project(account);
setInterval(() => accounts.forEach((account) => void project(account)), (LIFETIME_SECONDS / 2) * 1000);
process.stdout.write(`${JSON.stringify({ issuer })}\n`);
