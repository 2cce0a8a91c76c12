// Walkthrough helper: stands in for your platform's identity issuer. Writes into ./.walkthrough/
// the issuer's public JWKS (for the trust provider) and an OIDC token for the workload
// "my-script", with the control plane ($TESSERA) as audience, valid for one hour
// ($TOKEN_LIFETIME, e.g. `10m`, changes that). The issuer's throwaway ES256 key is kept in
// .walkthrough/issuer-key.json, so running this again mints a fresh token that the same trust
// provider accepts.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { SignJWT, exportJWK, generateKeyPair, importJWK } from 'jose';

const audience = process.env.TESSERA ?? 'http://127.0.0.1:8080';
const lifetime = process.env.TOKEN_LIFETIME ?? '1h';
const KEY_FILE = '.walkthrough/issuer-key.json';

mkdirSync('.walkthrough', { recursive: true });
if (!existsSync(KEY_FILE)) {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  writeFileSync(KEY_FILE, JSON.stringify({ ...(await exportJWK(privateKey)), kid: 'walkthrough-1', alg: 'ES256' }), { mode: 0o600 });
}
const { d, ...publicJwk } = JSON.parse(readFileSync(KEY_FILE, 'utf8'));
const privateKey = await importJWK({ ...publicJwk, d }, 'ES256');
const token = await new SignJWT({})
  .setProtectedHeader({ alg: 'ES256', kid: publicJwk.kid, typ: 'JWT' })
  .setIssuer('https://idp.walkthrough.local')
  .setSubject('my-script')
  .setAudience(audience)
  .setIssuedAt()
  .setExpirationTime(lifetime)
  .sign(privateKey);

writeFileSync('.walkthrough/jwks.json', JSON.stringify({ keys: [{ ...publicJwk, use: 'sig' }] }));
writeFileSync('.walkthrough/token', token, { mode: 0o600 });
const { exp } = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
console.log(`wrote .walkthrough/jwks.json and .walkthrough/token (subject my-script, audience ${audience}, expires ${new Date(exp * 1000).toISOString()})`);
