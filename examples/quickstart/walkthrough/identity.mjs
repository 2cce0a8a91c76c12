// Walkthrough helper: stands in for your platform's identity issuer. Makes a throwaway ES256
// key, writes its public JWKS (for the trust provider) and a one-hour OIDC token for the
// workload "my-script", with the control plane ($TESSERA) as audience, into ./.walkthrough/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';

const audience = process.env.TESSERA ?? 'http://127.0.0.1:8080';
const { privateKey, publicKey } = await generateKeyPair('ES256');
const jwk = { ...(await exportJWK(publicKey)), kid: 'walkthrough-1', alg: 'ES256', use: 'sig' };
const token = await new SignJWT({})
  .setProtectedHeader({ alg: 'ES256', kid: jwk.kid, typ: 'JWT' })
  .setIssuer('https://idp.walkthrough.local')
  .setSubject('my-script')
  .setAudience(audience)
  .setIssuedAt()
  .setExpirationTime('1h')
  .sign(privateKey);

mkdirSync('.walkthrough', { recursive: true });
writeFileSync('.walkthrough/jwks.json', JSON.stringify({ keys: [jwk] }));
writeFileSync('.walkthrough/token', token, { mode: 0o600 });
console.log(`wrote .walkthrough/jwks.json and .walkthrough/token (subject my-script, audience ${audience})`);
