/**
 * Test helper: a real OAuth 2.0 token server on loopback (port 0) that checks client
 * authentication for real, as an authorization server would: the Basic header decoded per
 * RFC 6749 §2.3.1, the form fields of client_secret_post, and for private_key_jwt the
 * assertion's signature against the registered public key, `iss` = `sub` = client id,
 * `aud` (token endpoint or issuer), `exp`, and a `jti` never seen before.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwtVerify, type CryptoKey } from 'jose';

export type RegisteredClient =
  | { method: 'client_secret_basic' | 'client_secret_post'; secret: string }
  | { method: 'private_key_jwt'; publicKey: CryptoKey };

export interface RecordedTokenRequest {
  clientId: string;
  authMethod: string;
  form: URLSearchParams;
  assertion?: { header: Record<string, unknown>; payload: Record<string, unknown> };
}

/** Replaces the success response: status and JSON body (and extra headers). */
export type Responder = (request: RecordedTokenRequest) => { status: number; body: unknown; headers?: Record<string, string> } | undefined;

export interface FakeTokenServer {
  issuer: string;
  tokenEndpoint: string;
  requests: RecordedTokenRequest[];
  discoveries: number;
  /** Tokens issued so far; the next one is `access-token-<issued + 1>`. */
  issued: number;
  /** `expires_in` sent with tokens; undefined: none. */
  expiresIn: number | undefined;
  delayMs: number;
  responder: Responder | undefined;
  /** Merged into the discovery document. */
  metadataOverrides: Record<string, unknown>;
  close(): Promise<void>;
}

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const formDecode = (value: string) => decodeURIComponent(value.replaceAll('+', ' '));

class AuthError extends Error {}

export async function startFakeTokenServer(clients: Record<string, RegisteredClient>): Promise<FakeTokenServer> {
  const seenJtis = new Set<string>();

  async function authenticate(request: IncomingMessage, form: URLSearchParams, fake: FakeTokenServer): Promise<RecordedTokenRequest> {
    const authorization = request.headers.authorization;
    if (authorization?.startsWith('Basic ')) {
      const decoded = Buffer.from(authorization.slice(6), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const clientId = formDecode(decoded.slice(0, colon));
      const client = clients[clientId];
      if (form.has('client_secret') || client?.method !== 'client_secret_basic' || formDecode(decoded.slice(colon + 1)) !== client.secret) {
        throw new AuthError();
      }
      return { clientId, authMethod: 'client_secret_basic', form };
    }
    const clientId = form.get('client_id') ?? '';
    const client = clients[clientId];
    if (form.get('client_assertion_type') === JWT_BEARER) {
      if (client?.method !== 'private_key_jwt') throw new AuthError();
      const verified = await jwtVerify(form.get('client_assertion') ?? '', client.publicKey, {
        issuer: clientId,
        subject: clientId,
        audience: [fake.tokenEndpoint, fake.issuer],
        requiredClaims: ['exp', 'jti'],
      }).catch(() => {
        throw new AuthError();
      });
      const jti = String(verified.payload.jti);
      if (seenJtis.has(jti)) throw new AuthError(); // replayed assertion
      seenJtis.add(jti);
      return { clientId, authMethod: 'private_key_jwt', form, assertion: { header: { ...verified.protectedHeader }, payload: { ...verified.payload } } };
    }
    if (client?.method !== 'client_secret_post' || form.get('client_secret') !== client.secret) throw new AuthError();
    return { clientId, authMethod: 'client_secret_post', form };
  }

  const send = (response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
    response.end(JSON.stringify(body));
  };

  async function handle(request: IncomingMessage, response: ServerResponse, fake: FakeTokenServer): Promise<void> {
    if (request.method === 'GET' && request.url === '/.well-known/openid-configuration') {
      fake.discoveries += 1;
      const methods = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'];
      return send(response, 200, { issuer: fake.issuer, token_endpoint: fake.tokenEndpoint, token_endpoint_auth_methods_supported: methods, ...fake.metadataOverrides });
    }
    if (request.method !== 'POST' || request.url !== '/token') return send(response, 404, { error: 'not_found' });
    let body = '';
    for await (const chunk of request) body += String(chunk);
    const form = new URLSearchParams(body);
    let recorded: RecordedTokenRequest;
    try {
      recorded = await authenticate(request, form, fake);
    } catch {
      const challenge: Record<string, string> = request.headers.authorization ? { 'www-authenticate': 'Basic realm="fake"' } : {};
      return send(response, 401, { error: 'invalid_client', error_description: 'client authentication failed' }, challenge);
    }
    fake.requests.push(recorded);
    if (form.get('grant_type') !== 'client_credentials') return send(response, 400, { error: 'unsupported_grant_type' });
    if (fake.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, fake.delayMs));
    const custom = fake.responder?.(recorded);
    if (custom !== undefined) return send(response, custom.status, custom.body, custom.headers);
    fake.issued += 1;
    const token = { access_token: `access-token-${fake.issued}`, token_type: 'Bearer', ...(fake.expiresIn === undefined ? {} : { expires_in: fake.expiresIn }) };
    return send(response, 200, token);
  }

  const server = createServer((request, response) => {
    handle(request, response, fake).catch(() => send(response, 500, { error: 'server_error' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const fake: FakeTokenServer = {
    issuer: `http://127.0.0.1:${port}`,
    tokenEndpoint: `http://127.0.0.1:${port}/token`,
    requests: [],
    discoveries: 0,
    issued: 0,
    expiresIn: 3600,
    delayMs: 0,
    responder: undefined,
    metadataOverrides: {},
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections(); // the client's keep-alive sockets would hold close() open
      }),
  };
  return fake;
}
