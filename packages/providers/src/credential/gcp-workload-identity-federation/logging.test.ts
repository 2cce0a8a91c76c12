/**
 * google-auth-library logs every request's headers and every response body when
 * GOOGLE_SDK_NODE_LOGGING is set — bearer tokens included — through interceptors the provider
 * turns off. This file runs in its own module scope, so the library is first loaded with the
 * variable already set.
 */
import { SignJWT } from 'jose';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import type { CredentialContext, SignJwtOptions } from '../../contracts.js';
import { createTestKey, jwksOf, type TestKey } from '../../../test/support/jwt-fixtures.js';
import { type LoopbackServer, sendJson, startLoopbackServer } from '../../../test/support/loopback-server.js';
import { FAKE_POOL_PROVIDER_AUDIENCE, type FakeGoogle, startFakeGoogle } from '../../../test/support/fake-google-sts.js';
import { createGcpWorkloadIdentityFederationProvider } from './index.js';

const SERVICE_ACCOUNT = 'storage-reader@acme-prod.iam.gserviceaccount.com';
let cloud: LoopbackServer;
let key: TestKey;
let google: FakeGoogle;
const previous = process.env.GOOGLE_SDK_NODE_LOGGING;

beforeAll(async () => {
  process.env.GOOGLE_SDK_NODE_LOGGING = 'all';
  key = await createTestKey('cloud-key-1', 'ES256');
  cloud = await startLoopbackServer((_request, response) => sendJson(response, jwksOf(key)));
  google = await startFakeGoogle({ issuer: cloud.origin, jwksUri: `${cloud.origin}/jwks`, impersonable: [SERVICE_ACCOUNT] });
});
afterAll(async () => {
  if (previous === undefined) delete process.env.GOOGLE_SDK_NODE_LOGGING;
  else process.env.GOOGLE_SDK_NODE_LOGGING = previous;
  await Promise.all([google.close(), cloud.close()]);
});

it('writes no token to the console or stderr, even with GOOGLE_SDK_NODE_LOGGING=all', async () => {
  const written: string[] = [];
  const capture = (...args: unknown[]) => void written.push(args.map(String).join(' '));
  const spies = [
    vi.spyOn(console, 'log').mockImplementation(capture),
    vi.spyOn(console, 'error').mockImplementation(capture),
    vi.spyOn(console, 'debug').mockImplementation(capture),
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => (capture(chunk), true)),
  ];
  const signed: string[] = [];
  const context: CredentialContext = {
    issuer: cloud.origin,
    now: () => new Date(),
    fetch,
    signJwt: async (payload: Record<string, unknown>, options: SignJwtOptions) => {
      const iat = Math.floor(Date.now() / 1000);
      const token = await new SignJWT({ ...payload, iss: cloud.origin, sub: options.subject, aud: options.audience, iat, exp: iat + options.lifetimeSeconds })
        .setProtectedHeader({ alg: 'ES256', kid: key.kid })
        .sign(key.privateKey);
      signed.push(token);
      return token;
    },
  };
  try {
    const credential = await createGcpWorkloadIdentityFederationProvider().issue(
      { clientWorkload: { id: 'c1', name: 'billing', claims: {} }, serverWorkload: { id: 's1', name: 'gcs', host: 'storage.googleapis.com', port: 443, scheme: 'https' }, policyId: 'p1', resourceSet: { id: 'rs-1', name: 'payments' } },
      { audience: FAKE_POOL_PROVIDER_AUDIENCE, serviceAccountEmail: SERVICE_ACCOUNT, tokenUrl: google.tokenUrl, iamCredentialsEndpoint: google.iamEndpoint },
      {},
      context,
    );
    expect(credential).toMatchObject({ kind: 'token', token: 'ya29.fake-sa-1' });
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
  const output = written.join('\n');
  expect(output).not.toContain('ya29.');
  for (const token of signed) expect(output).not.toContain(token.split('.')[1]);
});
