import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { VerifyContext } from '../../contracts.js';
import { ProviderRegistry } from '../../registry.js';
import { validateProviderConfig } from '../../validate-config.js';
import { createJwtKeySource } from '../jwt/key-source.js';
import {
  AUDIENCE,
  createTestKey,
  expectRefused,
  hmacWithPublicKey,
  NOW,
  NOW_SECONDS,
  signRaw,
  signToken,
  type TestKey,
  unsignedToken,
} from '../../../test/support/jwt-fixtures.js';
import { FAKE_COMPUTE_ENGINE, FAKE_SERVICE_ACCOUNT_EMAIL, FAKE_SERVICE_ACCOUNT_ID, type FakeMetadata, startFakeMetadata } from '../../../test/support/fake-gcp-metadata.js';
import {
  createGcpIdentityTokenCollector,
  createGcpIdentityTokenTrustProvider,
  type GcpIdentityTokenConfig,
  gcpIdentityTokenTrustProvider,
  GOOGLE_ISSUER,
  GOOGLE_JWKS_URI,
} from './index.js';

const TYPE = 'gcp-identity-token';

describe('gcp-identity-token: metadata token → verified claims', () => {
  let fake: FakeMetadata;
  let other: TestKey;
  let fetched: string[];
  let config: GcpIdentityTokenConfig;
  const ctx = (): VerifyContext => ({
    audience: AUDIENCE,
    now: () => NOW,
    fetch: (input, init) => {
      fetched.push(String(input));
      return fetch(input, init);
    },
  });

  beforeAll(async () => {
    fake = await startFakeMetadata({ nowSeconds: () => NOW_SECONDS });
    other = await createTestKey('google-key-1', 'RS256'); // same kid, another key
  });
  afterAll(() => fake.close());
  beforeEach(() => {
    fake.reset();
    fake.state.nowSeconds = () => NOW_SECONDS;
    fetched = [];
    config = { jwksUri: fake.jwksUri };
  });

  const collector = () => createGcpIdentityTokenCollector({ env: { TESSERA_GCP_METADATA_ENDPOINT: fake.origin } });
  const collectToken = async (audience = AUDIENCE) => {
    const evidence = await collector().collect({ audience });
    expect(evidence.type).toBe(TYPE);
    return evidence.token as string;
  };
  const verify = (token: string, cfg: GcpIdentityTokenConfig = config) =>
    createGcpIdentityTokenTrustProvider({ keySource: createJwtKeySource() }).verify({ type: TYPE, token }, cfg, ctx());

  it('collects a format=full token for the cloud audience and vouches for the VM and its service account', async () => {
    const token = await collectToken();
    await expect(verify(token)).resolves.toEqual({
      claims: {
        'gcp.subject': FAKE_SERVICE_ACCOUNT_ID,
        'gcp.serviceAccountEmail': FAKE_SERVICE_ACCOUNT_EMAIL,
        'gcp.projectId': 'acme-prod',
        'gcp.projectNumber': '739419398126',
        'gcp.zone': 'europe-west1-b',
        'gcp.instanceId': '4015863209225735621',
        'gcp.instanceName': 'billing-vm-1',
      },
      expiresAt: new Date((NOW_SECONDS + 3600) * 1000),
      subject: FAKE_SERVICE_ACCOUNT_ID,
    });
    expect(fake.identityQueries.map((query) => Object.fromEntries(query))).toEqual([{ audience: AUDIENCE, format: 'full', licenses: 'FALSE' }]);
    expect(fake.server.requests[0]?.headers['metadata-flavor']).toBe('Google');
    // The only outbound call of the verifier: the configured JWKS.
    expect(fetched).toEqual([fake.jwksUri]);
  });

  it('verifies a token without google.compute_engine (Cloud Run, format=standard) without those claims', async () => {
    fake.state.platform = 'cloud-run';
    await expect(verify(await collectToken())).resolves.toMatchObject({
      claims: { 'gcp.subject': FAKE_SERVICE_ACCOUNT_ID, 'gcp.serviceAccountEmail': FAKE_SERVICE_ACCOUNT_EMAIL },
    });
    const standard = await verify(await fake.mint(AUDIENCE, 'standard'));
    expect(standard.claims).toEqual({ 'gcp.subject': FAKE_SERVICE_ACCOUNT_ID });
  });

  it('refuses a token minted for another audience', async () => {
    const token = await collectToken('https://another-cloud.example');
    await expectRefused(verify(token), { code: 'evidence_invalid', message: '"aud" mismatch', provider: TYPE, token });
  });

  it('refuses a token of another issuer; accepts accounts.google.com only with the default issuer', async () => {
    fake.state.issuer = 'https://evil-issuer.example';
    const evil = await collectToken();
    await expectRefused(verify(evil), { code: 'evidence_invalid', message: 'unexpected "iss"', provider: TYPE, token: evil });

    fake.state.issuer = 'accounts.google.com';
    const bare = await collectToken();
    await expect(verify(bare)).resolves.toMatchObject({ subject: FAKE_SERVICE_ACCOUNT_ID });
    const custom = { ...config, issuer: 'https://issuer.internal.example' };
    await expectRefused(verify(bare, custom), { code: 'evidence_invalid', message: 'unexpected "iss"', provider: TYPE, token: bare });
    await expectRefused(verify(await fake.mint(AUDIENCE, 'full'), custom), { code: 'evidence_invalid', message: 'unexpected "iss"', provider: TYPE });
  });

  it('refuses an expired token', async () => {
    fake.state.nowSeconds = () => NOW_SECONDS - 7200; // issued two hours ago, valid for one
    const token = await collectToken();
    await expectRefused(verify(token), { code: 'evidence_expired', message: 'token expired ("exp")', provider: TYPE, token });
  });

  it('refuses a token signed by another key, even under the published kid', async () => {
    fake.state.signingKey = other;
    const token = await collectToken();
    await expectRefused(verify(token), { code: 'evidence_invalid', message: 'signature verification failed', provider: TYPE, token });
  });

  it('pins RS256: ES256, HS256 with the public key, alg none and a jku header are refused before any fetch', async () => {
    const payload = fake.payload(AUDIENCE, 'full');
    const es256 = await signToken(payload, await createTestKey('google-key-1', 'ES256'));
    await expectRefused(verify(es256), { code: 'evidence_invalid', message: '"alg" not allowed', provider: TYPE });
    await expectRefused(verify(await hmacWithPublicKey(payload, fake.key)), { code: 'evidence_invalid', message: '"alg" not allowed', provider: TYPE });
    await expectRefused(verify(unsignedToken(payload, fake.key.kid)), { code: 'evidence_invalid', message: '"alg" not allowed', provider: TYPE });
    const jku = await signRaw({ alg: 'RS256', kid: 'x', jku: 'http://127.0.0.1:1/jwks' }, payload, other);
    await expectRefused(verify(jku), { code: 'evidence_invalid', message: 'forbidden "jku" header', provider: TYPE });
    expect(fetched).toEqual([]);
  });

  it('refuses an email that Google did not verify', async () => {
    fake.state.emailVerified = false;
    const token = await collectToken();
    await expectRefused(verify(token), { code: 'evidence_invalid', message: '"email_verified" is not true', provider: TYPE, token });
  });

  it('refuses malformed google.compute_engine claims, naming the claim only', async () => {
    const { zone: _zone, ...noZone } = FAKE_COMPUTE_ENGINE;
    const token = await signToken({ ...fake.payload(AUDIENCE, 'full'), google: { compute_engine: noZone } }, fake.key);
    await expectRefused(verify(token), { code: 'evidence_invalid', message: 'missing "google.compute_engine.zone" claim', provider: TYPE, token });
    const scalar = await signToken({ ...fake.payload(AUDIENCE, 'full'), google: 'gce' }, fake.key);
    await expectRefused(verify(scalar), { code: 'evidence_invalid', message: '"google" claim is invalid', provider: TYPE, token: scalar });
  });

  describe('allow-lists', () => {
    it('accepts a project in projectIds and refuses one that is not', async () => {
      const token = await collectToken();
      await expect(verify(token, { ...config, projectIds: ['other-project', 'acme-prod'] })).resolves.toBeTruthy();
      await expectRefused(verify(token, { ...config, projectIds: ['other-project'] }), {
        code: 'evidence_invalid',
        message: "the token's project is not in projectIds",
        provider: TYPE,
        token,
      });
    });

    it('refuses a token without google.compute_engine when projectIds is set', async () => {
      fake.state.platform = 'cloud-run';
      const token = await collectToken();
      await expectRefused(verify(token, { ...config, projectIds: ['acme-prod'] }), {
        code: 'evidence_invalid',
        message: 'projectIds is set but the token has no "google.compute_engine" claim',
        provider: TYPE,
        token,
      });
    });

    it('matches serviceAccountEmails case-insensitively and refuses others, and tokens without email', async () => {
      const token = await collectToken();
      await expect(verify(token, { ...config, serviceAccountEmails: [FAKE_SERVICE_ACCOUNT_EMAIL.toUpperCase()] })).resolves.toBeTruthy();
      await expectRefused(verify(token, { ...config, serviceAccountEmails: ['someone-else@acme-prod.iam.gserviceaccount.com'] }), {
        code: 'evidence_invalid',
        message: "the token's service account is not in serviceAccountEmails",
        provider: TYPE,
        token,
      });
      const standard = await fake.mint(AUDIENCE, 'standard');
      await expectRefused(verify(standard, { ...config, serviceAccountEmails: [FAKE_SERVICE_ACCOUNT_EMAIL] }), {
        code: 'evidence_invalid',
        message: 'serviceAccountEmails is set but the token has no "email" claim',
        provider: TYPE,
      });
    });
  });

  it('takes evidence of type gcp-identity-token only', async () => {
    for (const evidence of [{ type: 'jwt', token: 'a.b.c' }, { type: TYPE }, { type: TYPE, token: 42 }]) {
      await expectRefused(gcpIdentityTokenTrustProvider.verify(evidence, config, ctx()), {
        code: 'evidence_invalid',
        message: "evidence must be { type: 'gcp-identity-token', token }",
        provider: TYPE,
      });
    }
  });
});

describe('gcp-identity-token config', () => {
  const validate = (config: unknown) => validateProviderConfig(gcpIdentityTokenTrustProvider, config);

  it("defaults to Google's issuer and certs endpoint, 30 s of tolerance, and needs nothing else", () => {
    expect(validate({})).toEqual({ ok: true, value: { issuer: GOOGLE_ISSUER, jwksUri: GOOGLE_JWKS_URI, clockToleranceSeconds: 30 } });
    expect(validate({ projectIds: ['acme-prod', 'example.com:legacy-app'], serviceAccountEmails: [FAKE_SERVICE_ACCOUNT_EMAIL] }).ok).toBe(true);
  });

  it('refuses key sources other than a JWKS URL, an algorithm choice, and unfetchable URLs', () => {
    expect(validate({ jwks: { keys: [{ kty: 'RSA' }] } })).toEqual({ ok: false, errors: [{ path: '/jwks', message: 'is not a known property' }] });
    expect(validate({ algorithms: ['ES256'] })).toEqual({ ok: false, errors: [{ path: '/algorithms', message: 'is not a known property' }] });
    expect(validate({ jwksUri: 'http://certs.example.com/keys' })).toEqual({
      ok: false,
      errors: [{ path: '', message: 'jwksUri must use https (http only on a loopback host)' }],
    });
  });

  it('checks project ids and emails', () => {
    expect(validate({ projectIds: ['Acme'] }).ok).toBe(false);
    expect(validate({ projectIds: [] }).ok).toBe(false);
    expect(validate({ serviceAccountEmails: ['not-an-email'] }).ok).toBe(false);
  });

  it('registers as trust provider and collector of the same type', () => {
    const registry = new ProviderRegistry()
      .registerTrustProvider(gcpIdentityTokenTrustProvider)
      .registerEvidenceCollector(createGcpIdentityTokenCollector());
    expect(registry.listTrustProviders({ evidenceType: TYPE })).toEqual([TYPE]);
    expect(registry.listEvidenceCollectors()).toEqual([TYPE]);
  });
});
