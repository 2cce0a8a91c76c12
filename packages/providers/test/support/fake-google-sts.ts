/**
 * Test helper: Google STS and IAM Credentials on loopback (port 0), checking what the real
 * services check, for real:
 *
 * - `POST /v1/token` (STS, RFC 8693): the form fields `IdentityPoolClient` sends, `audience` =
 *   the workload identity pool provider, and the subject token verified as Google's OIDC
 *   provider does — signature against the issuer's JWKS (fetched from the cloud-like issuer on
 *   loopback), `iss`, `aud` among the allowed audiences, `exp`, `iat` and `sub` present. It
 *   answers like Google: `access_token`, `issued_token_type`, `token_type`, `expires_in`, or an
 *   OAuth error (`invalid_grant` ...).
 * - `POST /v1/projects/-/serviceAccounts/<email>:generateAccessToken` (IAM Credentials): the
 *   bearer must be a token this STS issued with the cloud-platform scope, the service account
 *   one the federated principal may impersonate; it answers `{accessToken, expireTime}` or a
 *   Google API error (`PERMISSION_DENIED` ...).
 *
 * Not part of the published package.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';

export const FAKE_POOL_PROVIDER_AUDIENCE = '//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/tessera-pool/providers/tessera-cloud';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';
const GENERATE_ACCESS_TOKEN = /^\/v1\/projects\/-\/serviceAccounts\/([^/:]+):generateAccessToken$/;

export interface FakeGoogleOptions {
  /** The OIDC provider's issuer (the cloud) and where its keys are. */
  issuer: string;
  jwksUri: string;
  /** Audiences the OIDC provider accepts in the JWT; default: the pool provider's name. */
  allowedAudiences?: string[];
  /** Service accounts the federated principals may impersonate. */
  impersonable?: string[];
}

export interface RecordedStsRequest {
  form: URLSearchParams;
  /** The verified subject token's header and claims. */
  header: Record<string, unknown>;
  claims: JWTPayload;
}

export interface RecordedIamRequest {
  email: string;
  /** The STS token presented as bearer. */
  bearer: string;
  body: { scope?: unknown; lifetime?: unknown };
}

export type StsResponder = (form: URLSearchParams) => { status: number; body: unknown; contentType?: string } | undefined;

export interface FakeGoogle {
  origin: string;
  tokenUrl: string;
  iamEndpoint: string;
  /** Every request received, in order (method and path). */
  requests: string[];
  stsRequests: RecordedStsRequest[];
  iamRequests: RecordedIamRequest[];
  /** `expires_in` of federated tokens. */
  expiresIn: number;
  delayMs: number;
  /** The clock of `expireTime`, in ms. */
  nowMs: () => number;
  /** Replaces the STS answer when it returns something (after the request is recorded). */
  stsResponder: StsResponder | undefined;
  /** Clears the records and answers, and restarts the token counters. */
  reset(): void;
  close(): Promise<void>;
}

const send = (response: ServerResponse, status: number, body: unknown, contentType = 'application/json; charset=utf-8') => {
  response.writeHead(status, { 'content-type': contentType });
  response.end(typeof body === 'string' ? body : JSON.stringify(body));
};

async function readBody(request: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of request) body += String(chunk);
  return body;
}

/** What Google's STS says about a subject token it does not accept. */
function stsRefusal(error: unknown, allowed: readonly string[]): { error: string; error_description: string } {
  if (error instanceof errors.JWTClaimValidationFailed && error.claim === 'aud') {
    return { error: 'invalid_grant', error_description: `The audience in ID Token does not match the expected audience ${allowed.join(', ')}.` };
  }
  if (error instanceof errors.JWTExpired) return { error: 'invalid_grant', error_description: 'ID Token has expired.' };
  if (error instanceof errors.JWTClaimValidationFailed && error.claim === 'iss') {
    return { error: 'invalid_grant', error_description: 'The issuer in ID Token does not match the issuer of the provider.' };
  }
  return { error: 'invalid_grant', error_description: 'Invalid ID Token.' };
}

export async function startFakeGoogle(options: FakeGoogleOptions): Promise<FakeGoogle> {
  const keys = createRemoteJWKSet(new URL(options.jwksUri));
  const allowedAudiences = options.allowedAudiences ?? [FAKE_POOL_PROVIDER_AUDIENCE];
  const impersonable = new Set(options.impersonable ?? []);
  /** STS tokens issued → their scope. */
  const issuedTokens = new Map<string, string>();
  let stsCount = 0;
  let iamCount = 0;

  async function sts(request: IncomingMessage, response: ServerResponse, fake: FakeGoogle): Promise<void> {
    const form = new URLSearchParams(await readBody(request));
    const invalid = (description: string) => send(response, 400, { error: 'invalid_request', error_description: description });
    if (request.headers.authorization !== undefined) return invalid('The Authorization header must not be sent.');
    if (form.get('grant_type') !== TOKEN_EXCHANGE) return send(response, 400, { error: 'unsupported_grant_type', error_description: 'Unsupported grant type.' });
    if (form.get('requested_token_type') !== ACCESS_TOKEN_TYPE) return invalid('Invalid requested_token_type.');
    if (form.get('subject_token_type') !== JWT_TOKEN_TYPE) return invalid('Invalid subject_token_type.');
    if (form.get('audience') !== FAKE_POOL_PROVIDER_AUDIENCE) return invalid('Invalid value for "audience". This value should be the full resource name of the Identity Provider.');
    const scope = form.get('scope') ?? '';
    if (scope === '') return send(response, 400, { error: 'invalid_scope', error_description: 'Scope is required.' });
    let verified: Awaited<ReturnType<typeof jwtVerify>>;
    try {
      verified = await jwtVerify(form.get('subject_token') ?? '', keys, {
        issuer: options.issuer,
        audience: allowedAudiences,
        algorithms: ['RS256', 'ES256'],
        requiredClaims: ['exp', 'iat', 'sub'],
      });
    } catch (error) {
      return send(response, 400, stsRefusal(error, allowedAudiences));
    }
    fake.stsRequests.push({ form, header: { ...verified.protectedHeader }, claims: verified.payload });
    if (fake.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, fake.delayMs));
    // A client that gave up (timeout) gets nothing, and no token is counted for it.
    if (request.socket.destroyed) return;
    const custom = fake.stsResponder?.(form);
    if (custom !== undefined) return send(response, custom.status, custom.body, custom.contentType);
    stsCount += 1;
    const accessToken = `ya29.fake-sts-${stsCount}`;
    issuedTokens.set(accessToken, scope);
    return send(response, 200, { access_token: accessToken, issued_token_type: ACCESS_TOKEN_TYPE, token_type: 'Bearer', expires_in: fake.expiresIn });
  }

  async function iam(request: IncomingMessage, response: ServerResponse, email: string, fake: FakeGoogle): Promise<void> {
    const apiError = (code: number, status: string, message: string) => send(response, code, { error: { code, message, status } });
    const bearer = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1] ?? '';
    const scope = issuedTokens.get(bearer);
    if (scope === undefined) {
      return apiError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token.');
    }
    if (!scope.split(' ').includes(CLOUD_PLATFORM)) return apiError(403, 'PERMISSION_DENIED', 'Request had insufficient authentication scopes.');
    let body: RecordedIamRequest['body'];
    try {
      body = JSON.parse(await readBody(request)) as RecordedIamRequest['body'];
    } catch {
      return apiError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
    }
    fake.iamRequests.push({ email, bearer, body });
    if (!impersonable.has(email)) {
      return apiError(403, 'PERMISSION_DENIED', "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).");
    }
    const lifetime = /^([0-9]+)s$/.exec(String(body.lifetime ?? '3600s'))?.[1];
    if (!Array.isArray(body.scope) || body.scope.length === 0 || lifetime === undefined) return apiError(400, 'INVALID_ARGUMENT', 'Invalid scope or lifetime.');
    iamCount += 1;
    return send(response, 200, { accessToken: `ya29.fake-sa-${iamCount}`, expireTime: new Date(fake.nowMs() + Number(lifetime) * 1000).toISOString() });
  }

  async function handle(request: IncomingMessage, response: ServerResponse, fake: FakeGoogle): Promise<void> {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    fake.requests.push(`${request.method} ${path}`);
    if (request.method === 'POST' && path === '/v1/token') return sts(request, response, fake);
    const email = GENERATE_ACCESS_TOKEN.exec(path)?.[1];
    if (request.method === 'POST' && email !== undefined) return iam(request, response, decodeURIComponent(email), fake);
    return send(response, 404, { error: { code: 404, message: 'Not found', status: 'NOT_FOUND' } });
  }

  const server = createServer((request, response) => {
    handle(request, response, fake).catch(() => send(response, 500, { error: { code: 500, message: 'internal', status: 'INTERNAL' } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const fake: FakeGoogle = {
    origin,
    tokenUrl: `${origin}/v1/token`,
    iamEndpoint: origin,
    requests: [],
    stsRequests: [],
    iamRequests: [],
    expiresIn: 3600,
    delayMs: 0,
    nowMs: () => Date.now(),
    stsResponder: undefined,
    reset() {
      stsCount = 0;
      iamCount = 0;
      issuedTokens.clear();
      Object.assign(fake, { requests: [], stsRequests: [], iamRequests: [], expiresIn: 3600, delayMs: 0, nowMs: () => Date.now(), stsResponder: undefined });
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
  return fake;
}
