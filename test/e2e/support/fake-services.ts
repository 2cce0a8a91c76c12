import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';

/** Small real HTTP services on loopback that stand in for the outside world in end-to-end tests. */

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

/** An OIDC issuer (discovery + JWKS) whose key signs workload tokens, like a cluster or CI issuer. */
export async function startFakeIssuer() {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'issuer-key-1', alg: 'ES256', use: 'sig' };
  let issuer = '';
  const requests: string[] = [];
  const server = createServer((request, response) => {
    requests.push(request.url ?? '');
    response.setHeader('content-type', 'application/json');
    if (request.url === '/.well-known/openid-configuration') {
      response.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/keys` }));
    } else if (request.url === '/keys') {
      response.end(JSON.stringify({ keys: [jwk] }));
    } else {
      response.statusCode = 404;
      response.end('{}');
    }
  });
  issuer = await listen(server);
  return {
    issuer,
    requests,
    sign(claims: Record<string, unknown>, options: { audience: string; subject: string; expiresIn?: string | number; key?: CryptoKey }) {
      return new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', kid: 'issuer-key-1', typ: 'JWT' })
        .setIssuer(issuer)
        .setAudience(options.audience)
        .setSubject(options.subject)
        .setIssuedAt()
        .setExpirationTime(options.expiresIn ?? '10m')
        .sign(options.key ?? privateKey);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** An OAuth2 token endpoint for client_credentials with client_secret_basic; counts what it issues. */
export async function startFakeTokenServer(clientId: string, clientSecret: string) {
  const issued: string[] = [];
  let base = '';
  const server = createServer(async (request, response) => {
    response.setHeader('content-type', 'application/json');
    if (request.url === '/.well-known/openid-configuration') {
      response.end(JSON.stringify({ issuer: base, token_endpoint: `${base}/token` }));
      return;
    }
    const form = new URLSearchParams(await readBody(request));
    const [id, secret] = Buffer.from((request.headers.authorization ?? '').replace(/^Basic /, ''), 'base64')
      .toString()
      .split(':')
      .map(decodeURIComponent);
    if (request.url !== '/token' || form.get('grant_type') !== 'client_credentials') {
      response.statusCode = 400;
      response.end(JSON.stringify({ error: 'unsupported_grant_type' }));
    } else if (id !== clientId || secret !== clientSecret) {
      response.statusCode = 401;
      response.end(JSON.stringify({ error: 'invalid_client', error_description: 'client authentication failed' }));
    } else {
      const token = `at_${randomBytes(16).toString('hex')}`;
      issued.push(token);
      response.end(JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: 3600, scope: form.get('scope') }));
    }
  });
  base = await listen(server);
  return { url: base, issued, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
