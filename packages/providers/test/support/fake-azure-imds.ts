/**
 * Test helper: Azure's Instance Metadata Service (and App Service's identity endpoint, and
 * Entra's keys endpoint) on loopback. It behaves as Azure does where the collector and the
 * verifier depend on it:
 *
 *   GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=...[&client_id=...]
 *       needs `Metadata: true` (400 "Required metadata header not specified" without it)
 *   GET /msi/token?api-version=2019-08-01&resource=...[&client_id=...]   (App Service)
 *       needs `X-IDENTITY-HEADER: <secret>`
 *   GET /{tenant}/discovery/v2.0/keys                                    (Entra's JWKS)
 *
 * Tokens are RS256 access tokens shaped like Entra's for a managed identity (v1 by default:
 * `iss` https://sts.windows.net/{tenant}/, `appid`; v2: login.microsoftonline.com/{tenant}/v2.0,
 * `azp`), `aud` = the requested resource, signed with the test key whose JWKS it serves.
 * Not part of the published package.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { jwksOf, signToken, type TestKey } from './jwt-fixtures.js';
import { type LoopbackServer, sendJson, startLoopbackServer } from './loopback-server.js';

export interface FakeManagedIdentity {
  /** Client (application) id: `appid` / `azp`, and what `client_id` selects. */
  clientId: string;
  /** Object (principal) id: `oid` and `sub`. */
  objectId: string;
  /** The identity's Azure resource id: `xms_mirid`. */
  resourceId: string;
}

export interface FakeImdsOptions {
  tenantId: string;
  key: TestKey;
  /** The VM's system-assigned identity, used when no `client_id` is given. */
  systemAssigned?: FakeManagedIdentity;
  userAssigned?: FakeManagedIdentity[];
  /** Clock of the minted tokens (the verifier's, in tests). */
  now: () => Date;
  /** App Service's `IDENTITY_HEADER` value. */
  identityHeader?: string;
}

export interface FakeImds {
  origin: string;
  server: LoopbackServer;
  /** Entra's keys endpoint for the tenant, served here. */
  jwksUri: string;
  tokenVersion: '1.0' | '2.0';
  lifetimeSeconds: number;
  /** Statuses answered (with an IMDS error body) before the next success, one per request. */
  failures: number[];
  /** Mints a token as IMDS would for `identity` and `resource`, with `overrides` merged in. */
  mint(identity: FakeManagedIdentity, resource: string, overrides?: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

export const VM_RESOURCE_ID = '/subscriptions/8d2a9f0e-4b1c-4e3a-9f5d-1a2b3c4d5e6f/resourcegroups/Payments-Prod/providers/Microsoft.Compute/virtualMachines/billing-vm-1';
export const USER_ASSIGNED_RESOURCE_ID =
  '/subscriptions/8d2a9f0e-4b1c-4e3a-9f5d-1a2b3c4d5e6f/resourcegroups/payments-prod/providers/Microsoft.ManagedIdentity/userAssignedIdentities/billing-identity';

const imdsError = (response: ServerResponse, status: number, error: string, description: string) =>
  sendJson(response, { error, error_description: description }, status);

export async function startFakeImds(options: FakeImdsOptions): Promise<FakeImds> {
  const { tenantId, key } = options;
  const identities = options.userAssigned ?? [];

  async function mint(identity: FakeManagedIdentity, resource: string, overrides: Record<string, unknown> = {}): Promise<string> {
    const now = Math.floor(options.now().getTime() / 1000);
    const v2 = fake.tokenVersion === '2.0';
    const issuer = v2 ? `https://login.microsoftonline.com/${tenantId}/v2.0` : `https://sts.windows.net/${tenantId}/`;
    return signToken(
      {
        aud: resource,
        iss: issuer,
        iat: now,
        nbf: now,
        exp: now + fake.lifetimeSeconds,
        aio: 'k2BgYJgc3fJ5jYt/2rF3n0ZuWLsmAA==',
        ...(v2 ? { azp: identity.clientId, azpacr: '2' } : { appid: identity.clientId, appidacr: '2' }),
        idp: `https://sts.windows.net/${tenantId}/`,
        idtyp: 'app',
        oid: identity.objectId,
        rh: '0.AUcAv4j5cvGGr0GRqy180BHbRwIAAAAAAAAAwAAAAAAAAADeAAA.',
        sub: identity.objectId,
        tid: tenantId,
        uti: randomUUID().replaceAll('-', '').slice(0, 22),
        ver: fake.tokenVersion,
        xms_mirid: identity.resourceId,
        xms_tcdt: 1453922171,
        ...overrides,
      },
      key,
    );
  }

  function identityFor(clientId: string | null, response: ServerResponse): FakeManagedIdentity | undefined {
    if (clientId !== null) {
      const found = [options.systemAssigned, ...identities].find((identity) => identity?.clientId === clientId);
      if (found === undefined) imdsError(response, 400, 'invalid_request', 'Identity not found');
      return found;
    }
    if (options.systemAssigned !== undefined) return options.systemAssigned;
    if (identities.length === 1) return identities[0];
    if (identities.length > 1) {
      imdsError(response, 400, 'invalid_request', 'Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request');
    } else {
      imdsError(response, 400, 'invalid_request', 'Identity not found');
    }
    return undefined;
  }

  async function answerToken(url: URL, response: ServerResponse, apiVersion: string): Promise<void> {
    if (url.searchParams.get('api-version') !== apiVersion) return imdsError(response, 400, 'invalid_request', 'Invalid API version');
    const resource = url.searchParams.get('resource');
    if (resource === null || resource === '') return imdsError(response, 400, 'invalid_request', 'Required audience parameter not specified');
    const failure = fake.failures.shift();
    if (failure !== undefined) return imdsError(response, failure, 'temporarily_unavailable', 'IMDS is updating, retry later');
    const identity = identityFor(url.searchParams.get('client_id'), response);
    if (identity === undefined) return;
    const now = Math.floor(options.now().getTime() / 1000);
    // IMDS sends numbers as strings.
    sendJson(response, {
      access_token: await mint(identity, resource),
      client_id: identity.clientId,
      expires_in: String(fake.lifetimeSeconds),
      expires_on: String(now + fake.lifetimeSeconds),
      ext_expires_in: String(fake.lifetimeSeconds),
      not_before: String(now),
      resource,
      token_type: 'Bearer',
    });
  }

  function handle(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    if (request.method !== 'GET') return imdsError(response, 405, 'invalid_request', 'Method not allowed');
    if (url.pathname === '/metadata/identity/oauth2/token') {
      // As Azure: no Metadata header, no token (this is what keeps SSRF'd requests out).
      if (request.headers.metadata !== 'true') return imdsError(response, 400, 'invalid_request', 'Required metadata header not specified');
      void answerToken(url, response, '2018-02-01');
      return;
    }
    if (url.pathname === '/msi/token') {
      if (options.identityHeader === undefined || request.headers['x-identity-header'] !== options.identityHeader) {
        return sendJson(response, { statusCode: 400, message: 'Unable to load the proper Managed Identity.', correlationId: randomUUID() }, 400);
      }
      void answerToken(url, response, '2019-08-01');
      return;
    }
    if (url.pathname === `/${tenantId}/discovery/v2.0/keys`) return sendJson(response, jwksOf(key));
    sendJson(response, { error: 'not_found' }, 404);
  }

  const server = await startLoopbackServer(handle);
  const fake: FakeImds = {
    origin: server.origin,
    server,
    jwksUri: `${server.origin}/${tenantId}/discovery/v2.0/keys`,
    tokenVersion: '1.0',
    lifetimeSeconds: 86_399,
    failures: [],
    mint,
    close: () => server.close(),
  };
  return fake;
}
