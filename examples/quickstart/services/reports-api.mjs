// The "reports API": accepts only a JWT signed by the Tessera control plane for its audience,
// checked against the control plane's published keys. It holds no secret at all.
// Env: TESSERA_ISSUER, AUDIENCE. Prints `{ "url": ... }` when ready.
import { createServer } from 'node:http';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const { TESSERA_ISSUER, AUDIENCE } = process.env;
const keys = createRemoteJWKSet(new URL(`${TESSERA_ISSUER}/.well-known/jwks.json`));
const server = createServer(async (req, res) => {
  const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
  try {
    const { payload } = await jwtVerify(token, keys, { issuer: TESSERA_ISSUER, audience: AUDIENCE, algorithms: ['ES256'] });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ report: 'daily-revenue', total: 4200, caller: payload.sub }));
  } catch {
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'a JWT signed by Tessera is required' }));
  }
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${server.address().port}` })}\n`));
