/**
 * Test helper: a Microsoft Entra ID stand-in on loopback, over TLS (MSAL and @azure/identity
 * refuse a plain-http authority). It serves what MSAL needs for a client-credentials grant with
 * a client assertion and checks that assertion as Entra does for workload identity federation:
 *
 *   GET  /{tenant}/v2.0/.well-known/openid-configuration
 *   POST /{tenant}/oauth2/v2.0/token   grant_type=client_credentials, client_id, scope,
 *        client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer, client_assertion
 *
 * The assertion's issuer is discovered like Entra does (`<iss>/.well-known/openid-configuration`,
 * then its `jwks_uri`) but only for issuers some federated credential names; then jose checks
 * the RS256 signature, `exp`, and that (`iss`, `sub`, `aud`) match a federated credential of the
 * app. Failures answer Entra's error shapes and AADSTS codes. Every request is recorded.
 *
 * Not part of the published package.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getCACertificates, setDefaultCACertificates } from 'node:tls';
import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';

/**
 * The shared self-signed certificate for localhost / 127.0.0.1, valid 2020–2120 (test use only),
 * from test/fixtures/tls/: the one every package's loopback HTTPS servers use.
 */
export const FAKE_ENTRA_CERT = readFileSync(new URL('../../../../test/fixtures/tls/localhost-cert.pem', import.meta.url), 'utf8');
const FAKE_ENTRA_KEY = readFileSync(new URL('../../../../test/fixtures/tls/localhost-key.pem', import.meta.url), 'utf8');

export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface FederatedIdentityCredential {
  issuer: string;
  subject: string;
  audiences: string[];
}

export interface FakeEntraApp {
  clientId: string;
  federatedIdentityCredentials: FederatedIdentityCredential[];
}

export interface RecordedEntraRequest {
  method: string;
  /** Path and query, as sent. */
  url: string;
  form?: URLSearchParams;
}

export interface VerifiedTokenRequest {
  clientId: string;
  scope: string;
  assertion: { header: Record<string, unknown>; payload: JWTPayload };
}

/** Replaces the success answer: status and a JSON body (or `text`, sent as text/html). */
export type EntraResponder = (request: VerifiedTokenRequest) => { status: number; body?: unknown; text?: string } | undefined;

export interface FakeEntra {
  /** `https://127.0.0.1:<port>`: the authorityHost. */
  origin: string;
  tenantId: string;
  requests: RecordedEntraRequest[];
  /** Token requests whose assertion verified. */
  verified: VerifiedTokenRequest[];
  /** Tokens issued so far; the next one is `entra-access-token-<issued + 1>`. */
  issued: number;
  expiresIn: number;
  delayMs: number;
  responder: EntraResponder | undefined;
  /** Merged into the OpenID configuration document. */
  metadataOverrides: Record<string, unknown>;
  /** Requests whose path (without query) equals `path`. */
  count(path: string): number;
  close(): Promise<void>;
}

/** Entra's error body: `error`, an AADSTS description with trace ids, `error_codes`. */
function entraError(error: string, code: number, description: string) {
  const traceId = crypto.randomUUID();
  const correlationId = crypto.randomUUID();
  const timestamp = new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  return {
    error,
    error_description: `AADSTS${code}: ${description} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
    error_codes: [code],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `https://login.microsoftonline.com/error?code=${code}`,
  };
}

class EntraRefusal extends Error {
  constructor(
    readonly status: number,
    readonly body: ReturnType<typeof entraError>,
  ) {
    super(body.error_description);
  }
}

const CHECK_FIC = 'Check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation';

const refuse = (status: number, error: string, code: number, description: string) => new EntraRefusal(status, entraError(error, code, description));

/** The issuer's keys, found through its discovery document as Entra does; cached per issuer. */
function issuerKeys(fetchImpl: typeof fetch) {
  const sets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();
  return async (issuer: string) => {
    let set = sets.get(issuer);
    if (set === undefined) {
      const response = await fetchImpl(`${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`);
      const document = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown };
      if (document.issuer !== issuer || typeof document.jwks_uri !== 'string') throw new Error('bad discovery document');
      set = createRemoteJWKSet(new URL(document.jwks_uri));
      sets.set(issuer, set);
    }
    return set;
  };
}

export async function startFakeEntra(options: { tenantId: string; apps: FakeEntraApp[] }): Promise<FakeEntra> {
  const { tenantId } = options;
  const apps = new Map(options.apps.map((app) => [app.clientId, app]));
  const keysOf = issuerKeys(fetch);

  async function verifyAssertion(form: URLSearchParams): Promise<VerifiedTokenRequest> {
    const clientId = form.get('client_id') ?? '';
    const app = apps.get(clientId);
    if (app === undefined) {
      throw refuse(400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory '${tenantId}'.`);
    }
    if (form.get('grant_type') !== 'client_credentials') throw refuse(400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.');
    if (form.get('client_assertion_type') !== JWT_BEARER) throw refuse(401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    const assertion = form.get('client_assertion') ?? '';
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(assertion).alg;
    } catch {
      throw refuse(400, 'invalid_request', 50027, 'Invalid JWT token. The token is malformed.');
    }
    if (typeof alg !== 'string' || !/^(RS|PS)(256|384|512)$/.test(alg)) {
      throw refuse(400, 'invalid_request', 5002738, `Invalid JWT token. '${String(alg)}' is not a supported signature algorithm.`);
    }
    const unverified = JSON.parse(Buffer.from(assertion.split('.')[1] ?? '', 'base64url').toString('utf8')) as JWTPayload;
    const candidates = app.federatedIdentityCredentials.filter((fic) => fic.issuer === unverified.iss);
    if (candidates.length === 0) {
      throw refuse(401, 'invalid_client', 700211, `No matching federated identity record found for presented assertion issuer '${String(unverified.iss)}'. ${CHECK_FIC}`);
    }
    let verified: Awaited<ReturnType<typeof jwtVerify>>;
    try {
      verified = await jwtVerify(assertion, await keysOf(String(unverified.iss)), { algorithms: ['RS256'], requiredClaims: ['exp', 'iat', 'sub', 'aud'] });
    } catch (error) {
      if (error instanceof errors.JWTExpired) throw refuse(400, 'invalid_client', 700024, 'Client assertion is not within its valid time range.');
      throw refuse(400, 'invalid_client', 5002727, 'Invalid JWT token. Signature verification failed.');
    }
    const { payload, protectedHeader } = verified;
    const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    if (!candidates.some((fic) => fic.subject === payload.sub)) {
      throw refuse(401, 'invalid_client', 700213, `No matching federated identity record found for presented assertion subject '${String(payload.sub)}'. ${CHECK_FIC}`);
    }
    if (!candidates.some((fic) => fic.subject === payload.sub && fic.audiences.some((audience) => audiences.includes(audience)))) {
      throw refuse(401, 'invalid_client', 700212, `No matching federated identity record found for presented assertion audience '${audiences.join(', ')}'. ${CHECK_FIC}`);
    }
    return { clientId, scope: form.get('scope') ?? '', assertion: { header: { ...protectedHeader }, payload: { ...payload } } };
  }

  const send = (response: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
    response.end(text);
  };

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const recorded: RecordedEntraRequest = { method: request.method ?? 'GET', url: request.url ?? '/' };
    fake.requests.push(recorded);
    const path = recorded.url.split('?')[0];
    if (request.method === 'GET' && path === `/${tenantId}/v2.0/.well-known/openid-configuration`) {
      const base = `${fake.origin}/${tenantId}`;
      return send(response, 200, {
        token_endpoint: `${base}/oauth2/v2.0/token`,
        token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
        jwks_uri: `${fake.origin}/${tenantId}/discovery/v2.0/keys`,
        response_modes_supported: ['query', 'fragment', 'form_post'],
        subject_types_supported: ['pairwise'],
        id_token_signing_alg_values_supported: ['RS256'],
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
        scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
        issuer: `${base}/v2.0`,
        authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
        end_session_endpoint: `${base}/oauth2/v2.0/logout`,
        tenant_region_scope: 'EU',
        ...fake.metadataOverrides,
      });
    }
    if (request.method === 'POST' && path === `/${tenantId}/oauth2/v2.0/token`) {
      let body = '';
      for await (const chunk of request) body += String(chunk);
      const form = new URLSearchParams(body);
      recorded.form = form;
      let verified: VerifiedTokenRequest;
      try {
        verified = await verifyAssertion(form);
      } catch (error) {
        if (error instanceof EntraRefusal) return send(response, error.status, error.body);
        throw error;
      }
      fake.verified.push(verified);
      if (fake.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, fake.delayMs));
      const custom = fake.responder?.(verified);
      if (custom?.text !== undefined) return void response.writeHead(custom.status, { 'content-type': 'text/html' }).end(custom.text);
      if (custom !== undefined) return send(response, custom.status, custom.body);
      fake.issued += 1;
      return send(response, 200, {
        token_type: 'Bearer',
        expires_in: fake.expiresIn,
        ext_expires_in: fake.expiresIn,
        access_token: `entra-access-token-${fake.issued}`,
      });
    }
    if (path?.startsWith(`/${tenantId}/`) !== true) {
      return send(response, 400, entraError('invalid_request', 90002, `Tenant '${path?.split('/')[1] ?? ''}' not found.`));
    }
    send(response, 404, { error: 'not_found' });
  }

  const server = createHttpsServer({ cert: FAKE_ENTRA_CERT, key: FAKE_ENTRA_KEY }, (request, response) => {
    handle(request, response).catch(() => send(response, 500, entraError('server_error', 90033, 'A transient error has occurred.')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const fake: FakeEntra = {
    origin: `https://127.0.0.1:${port}`,
    tenantId,
    requests: [],
    verified: [],
    issued: 0,
    expiresIn: 3599,
    delayMs: 0,
    responder: undefined,
    metadataOverrides: {},
    count: (path) => fake.requests.filter((r) => r.url.split('?')[0] === path).length,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return fake;
}

/**
 * Makes this process's TLS clients, Node's built-in fetch included, trust the fake's
 * certificate as well as the usual CAs; returns the undo. Tests then hand the plain global
 * `fetch` to the provider, as the control plane does.
 */
export function trustFakeEntraCertificate(): () => void {
  const previous = getCACertificates('default');
  setDefaultCACertificates([...previous, FAKE_ENTRA_CERT]);
  return () => setDefaultCACertificates(previous);
}
