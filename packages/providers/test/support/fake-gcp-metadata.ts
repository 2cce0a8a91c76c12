/**
 * Test helper: a GCP metadata server on loopback that behaves like the real one where the
 * collector and verifier care — it refuses requests without `Metadata-Flavor: Google` (403),
 * answers with that header, and mints RS256 ID tokens for the requested audience
 * (`format=standard` or `full`, as a Compute Engine VM or a Cloud Run service would) — and that
 * also serves the signing key's JWKS at `/oauth2/v3/certs`, standing in for Google's certs
 * endpoint. Not part of the published package.
 */
import { GOOGLE_ISSUER } from '../../src/trust/gcp-identity-token/config.js';
import { createTestKey, jwksOf, signToken, type TestKey } from './jwt-fixtures.js';
import { type LoopbackServer, sendJson, startLoopbackServer } from './loopback-server.js';

export const FAKE_SERVICE_ACCOUNT_ID = '104573829384756291837';
export const FAKE_SERVICE_ACCOUNT_EMAIL = 'billing-vm@acme-prod.iam.gserviceaccount.com';
export const FAKE_COMPUTE_ENGINE = {
  instance_creation_timestamp: 1717000000,
  instance_id: '4015863209225735621',
  instance_name: 'billing-vm-1',
  project_id: 'acme-prod',
  project_number: 739419398126,
  zone: 'europe-west1-b',
};

export interface FakeMetadataState {
  /** Key that signs minted tokens (the published one unless a test swaps it). */
  signingKey: TestKey;
  issuer: string;
  /** `gce` adds `google.compute_engine` to full tokens; `cloud-run` does not. */
  platform: 'gce' | 'cloud-run';
  /** The token clock, in seconds. */
  nowSeconds: () => number;
  lifetimeSeconds: number;
  email: string;
  emailVerified: boolean;
  /** Send `Metadata-Flavor: Google` on metadata responses (a real server always does). */
  flavorHeader: boolean;
}

export interface FakeMetadata {
  /** Metadata base URL: `http://127.0.0.1:<port>`. */
  origin: string;
  /** The published JWKS, as Google's certs endpoint. */
  jwksUri: string;
  server: LoopbackServer;
  /** The published key. */
  key: TestKey;
  state: FakeMetadataState;
  /** Query strings of the identity requests served, in order. */
  identityQueries: URLSearchParams[];
  /** The payload the server would sign for `audience` and `format` now. */
  payload(audience: string, format: 'standard' | 'full'): Record<string, unknown>;
  mint(audience: string, format: 'standard' | 'full'): Promise<string>;
  reset(): void;
  close(): Promise<void>;
}

const IDENTITY_PATH = '/computeMetadata/v1/instance/service-accounts/default/identity';

export async function startFakeMetadata(options: { nowSeconds?: () => number } = {}): Promise<FakeMetadata> {
  const key = await createTestKey('google-key-1', 'RS256');
  const defaults = (): FakeMetadataState => ({
    signingKey: key,
    issuer: GOOGLE_ISSUER,
    platform: 'gce',
    nowSeconds: options.nowSeconds ?? (() => Math.floor(Date.now() / 1000)),
    lifetimeSeconds: 3600,
    email: FAKE_SERVICE_ACCOUNT_EMAIL,
    emailVerified: true,
    flavorHeader: true,
  });
  const state = defaults();
  const identityQueries: URLSearchParams[] = [];

  const payload = (audience: string, format: 'standard' | 'full'): Record<string, unknown> => {
    const iat = state.nowSeconds();
    const standard = { aud: audience, azp: FAKE_SERVICE_ACCOUNT_ID, exp: iat + state.lifetimeSeconds, iat, iss: state.issuer, sub: FAKE_SERVICE_ACCOUNT_ID };
    if (format === 'standard') return standard;
    const full = { ...standard, email: state.email, email_verified: state.emailVerified };
    return state.platform === 'gce' ? { ...full, google: { compute_engine: { ...FAKE_COMPUTE_ENGINE } } } : full;
  };
  const mint = (audience: string, format: 'standard' | 'full') => signToken(payload(audience, format), state.signingKey);

  const server = await startLoopbackServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://metadata.test');
    if (url.pathname === '/oauth2/v3/certs') return sendJson(response, jwksOf(key));
    if (!url.pathname.startsWith('/computeMetadata/')) return sendJson(response, { error: 'not found' }, 404);
    const headers: Record<string, string> = { 'content-type': 'application/text', ...(state.flavorHeader ? { 'metadata-flavor': 'Google' } : {}) };
    const send = (status: number, body: string) => void response.writeHead(status, headers).end(body);
    // The real server refuses any request without the header (SSRF protection).
    if (request.headers['metadata-flavor'] !== 'Google') return send(403, 'Missing required header: Metadata-Flavor');
    if (url.pathname === '/computeMetadata/v1/') return send(200, 'instance/\noslogin/\nproject/\n');
    if (url.pathname !== IDENTITY_PATH) return send(404, 'Not Found');
    identityQueries.push(url.searchParams);
    const audience = url.searchParams.get('audience') ?? '';
    if (audience === '') return send(400, 'non-empty audience parameter required');
    const format = url.searchParams.get('format') === 'full' ? 'full' : 'standard';
    mint(audience, format).then(
      (token) => send(200, token),
      () => send(500, 'error'),
    );
  });

  return {
    origin: server.origin,
    jwksUri: `${server.origin}/oauth2/v3/certs`,
    server,
    key,
    state,
    identityQueries,
    payload,
    mint,
    reset() {
      Object.assign(state, defaults());
      identityQueries.length = 0;
      server.requests.length = 0;
    },
    close: () => server.close(),
  };
}
