import { randomBytes } from 'node:crypto';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CredentialContext, CredentialRequest, SignJwtOptions } from '../../contracts.js';
import { CredentialError } from '../../errors.js';
import { closedPortUrl, sendJson, startLoopbackServer, type LoopbackServer } from '../../../test/support/loopback-server.js';
import { startFakeSts, type FakeSts } from '../../../test/support/fake-sts.js';
import { type AwsStsConfig, createAwsStsCredentialProvider, type AwsStsCredentialProvider } from './index.js';

const ROLE_ARN = 'arn:aws:iam::123456789012:role/billing-reader';
const CLIENT_ID = '01a20929-5a93-70da-b594-4afd84a44aa5';
/** The web identity token's `sub`: the resource set and the workload, by id. */
const SUBJECT = `resource-set:rs-1:client-workload:${CLIENT_ID}`;
const request: CredentialRequest = {
  clientWorkload: { id: CLIENT_ID, name: 'billing', claims: {} },
  serverWorkload: { id: 's1', name: 'aws-s3', host: 's3.eu-west-1.amazonaws.com', port: 443, scheme: 'https' },
  policyId: 'p-42',
  resourceSet: { id: 'rs-1', name: 'payments' },
};

interface Signer {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function createSigner(kid: string): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

/** Mirrors the cloud's KeyRing.sign (ES256, kid, iss/sub/aud/iat/exp/jti from the options), on the real clock STS checks. */
function keyRingLike(issuer: string, signer: Signer, calls: Array<{ claims: Record<string, unknown>; options: SignJwtOptions }>, skewSeconds = 0) {
  return async (claims: Record<string, unknown>, options: SignJwtOptions): Promise<string> => {
    calls.push({ claims, options });
    const iat = Math.floor(Date.now() / 1000) + skewSeconds;
    const payload: JWTPayload = { ...claims, iss: issuer, sub: options.subject, aud: options.audience, iat, exp: iat + options.lifetimeSeconds, jti: randomBytes(16).toString('base64url') };
    return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: signer.kid, typ: 'JWT' }).sign(signer.privateKey);
  };
}

let issuerServer: LoopbackServer;
let issuer: string;
let cloudKey: Signer;
let strangerKey: Signer;
let sts: FakeSts;
let provider: AwsStsCredentialProvider;
let signCalls: Array<{ claims: Record<string, unknown>; options: SignJwtOptions }>;
let clockOffsetMs: number;
let context: CredentialContext;

beforeAll(async () => {
  cloudKey = await createSigner('cloud-key-1');
  strangerKey = await createSigner('stranger');
  // The cloud as an OIDC issuer: its JWKS on loopback, as STS would fetch it.
  issuerServer = await startLoopbackServer((req, res) => {
    if (req.url === '/.well-known/jwks.json') sendJson(res, { keys: [cloudKey.publicJwk] });
    else sendJson(res, { error: 'not_found' }, 404);
  });
  issuer = issuerServer.origin;
  sts = await startFakeSts({
    roles: [
      { roleArn: ROLE_ARN, issuer, audiences: ['sts.amazonaws.com'], jwksUri: `${issuer}/.well-known/jwks.json`, subjects: [SUBJECT, 'resource-set:rs-1:client-workload:second-workload'], maxSessionDurationSeconds: 7200 },
      { roleArn: 'arn:aws:iam::123456789012:role/admin', issuer, audiences: ['sts.amazonaws.com'], jwksUri: `${issuer}/.well-known/jwks.json`, subjects: ['someone-else'] },
    ],
  });
});

afterAll(async () => {
  await sts.close();
  await issuerServer.close();
});

beforeEach(() => {
  provider = createAwsStsCredentialProvider();
  sts.requests.length = 0;
  sts.delayMs = 0;
  sts.responder = undefined;
  signCalls = [];
  clockOffsetMs = 0;
  context = { issuer, now: () => new Date(Date.now() + clockOffsetMs), fetch, signJwt: keyRingLike(issuer, cloudKey, signCalls) };
});

const config = (overrides: Partial<AwsStsConfig> = {}): AwsStsConfig => ({ roleArn: ROLE_ARN, region: 'us-east-1', stsEndpoint: sts.url, ...overrides });
const issue = (overrides: Partial<AwsStsConfig> = {}, req: CredentialRequest = request, ctx: CredentialContext = context) => provider.issue(req, config(overrides), {}, ctx);
const assumeCalls = () => sts.requests.filter((r) => r.action === 'AssumeRoleWithWebIdentity');

/** Awaits a CredentialError and checks that no token, key or other secret is in it. */
async function expectFailure(promise: Promise<unknown>, code: string, message: string): Promise<CredentialError> {
  const error = await promise.then(
    () => expect.fail(`expected ${code}: ${message}`),
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(CredentialError);
  const failure = error as CredentialError;
  expect(failure).toMatchObject({ code, provider: 'aws-sts' });
  expect(failure.message).toContain(message);
  expect(failure.message.startsWith('credential(aws-sts): ')).toBe(true);
  expect(failure.cause).toBeUndefined();
  for (const recorded of sts.requests) {
    const token = recorded.params.WebIdentityToken;
    if (token !== undefined) {
      for (const part of [token, ...token.split('.')]) if (part.length >= 8) expect(`${failure.message} ${JSON.stringify(failure.upstream ?? {})}`).not.toContain(part);
    }
  }
  for (const credentials of sts.issued.values()) {
    for (const secret of [credentials.secretAccessKey, credentials.sessionToken]) expect(failure.message).not.toContain(secret);
  }
  return failure;
}

describe('aws-sts credential provider', () => {
  it('exchanges a workload JWT signed by the cloud for the role credentials', async () => {
    const credential = await issue();
    if (credential.kind !== 'aws') throw new Error('not aws');
    const [call] = assumeCalls();
    const issued = sts.issued.get(credential.accessKeyId);
    expect(issued).toBeDefined();
    expect(credential).toEqual({
      kind: 'aws',
      accessKeyId: issued!.accessKeyId,
      secretAccessKey: issued!.secretAccessKey,
      sessionToken: issued!.sessionToken,
      expiresAt: issued!.expiration,
    });
    expect(issued!.expiration.getTime() - Date.now()).toBeGreaterThan(3590_000);

    // What STS received and verified against the cloud's JWKS.
    expect(call).toMatchObject({ status: 200, params: { Action: 'AssumeRoleWithWebIdentity', Version: '2011-06-15', RoleArn: ROLE_ARN, RoleSessionName: 'tessera-billing', DurationSeconds: '3600' } });
    expect(call!.params).not.toHaveProperty('Policy');
    expect(call!.claims).toMatchObject({ iss: issuer, sub: SUBJECT, aud: 'sts.amazonaws.com' });
    expect(Number(call!.claims!.exp) - Number(call!.claims!.iat)).toBe(300);
    expect(call!.headers.authorization).toBeUndefined(); // AssumeRoleWithWebIdentity is unsigned
    expect(signCalls).toEqual([{ claims: {}, options: { audience: 'sts.amazonaws.com', subject: SUBJECT, lifetimeSeconds: 300 } }]);
  });

  it('issues credentials that sign AWS requests (GetCallerIdentity, SigV4 checked by the fake)', async () => {
    const credential = await issue();
    if (credential.kind !== 'aws') throw new Error('not aws');
    const client = new STSClient({ region: 'us-east-1', endpoint: sts.url, credentials: { ...credential, expiration: credential.expiresAt ?? undefined } });
    try {
      await expect(client.send(new GetCallerIdentityCommand({}))).resolves.toMatchObject({
        Arn: 'arn:aws:sts::123456789012:assumed-role/billing-reader/tessera-billing',
        Account: '123456789012',
      });
    } finally {
      client.destroy();
    }
  });

  it('shares cached credentials: one STS call for two requests', async () => {
    const first = await issue();
    const second = await issue();
    expect(second).toEqual(first);
    expect(assumeCalls()).toHaveLength(1);
    expect(signCalls).toHaveLength(1);
  });

  it('shares one STS call among concurrent misses', async () => {
    sts.delayMs = 50;
    const results = await Promise.all(Array.from({ length: 5 }, () => issue()));
    expect(new Set(results.map((r) => (r as { accessKeyId: string }).accessKeyId)).size).toBe(1);
    expect(assumeCalls()).toHaveLength(1);
  });

  it('caches per client workload, role session and config', async () => {
    await issue();
    await issue({}, { ...request, clientWorkload: { id: 'second-workload', name: 'reports', claims: {} } });
    await issue({ durationSeconds: 1800 });
    await issue({ roleSessionName: 'app-{clientWorkloadId}' });
    await issue({ policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }] } });
    expect(assumeCalls().map((r) => [r.params.RoleSessionName, r.params.DurationSeconds, r.claims?.sub])).toEqual([
      ['tessera-billing', '3600', SUBJECT],
      ['tessera-reports', '3600', 'resource-set:rs-1:client-workload:second-workload'],
      ['tessera-billing', '1800', SUBJECT],
      [`app-${CLIENT_ID}`, '3600', SUBJECT],
      ['tessera-billing', '3600', SUBJECT],
    ]);
    await issue();
    expect(assumeCalls()).toHaveLength(5);
  });

  it("never serves one resource set's credentials to a twin in another set (same config, same workload name)", async () => {
    await issue();
    // Another set's editor copies the config; the role trusts only set rs-1's workload, so STS
    // must be asked, and refuses: the cached credentials of rs-1 are not an answer.
    const twin = { ...request, resourceSet: { id: 'rs-2', name: 'tenant-b' }, clientWorkload: { id: 'twin-workload', name: 'billing', claims: {} } };
    await expect(issue({}, twin)).rejects.toThrow('AccessDenied');
    expect(assumeCalls().map((r) => r.claims?.sub)).toEqual([SUBJECT, 'resource-set:rs-2:client-workload:twin-workload']);
  });

  it('fetches new credentials once 75% of the lifetime has passed', async () => {
    const first = await issue({ durationSeconds: 1000 });
    clockOffsetMs = 740_000;
    expect(await issue({ durationSeconds: 1000 })).toEqual(first);
    clockOffsetMs = 760_000;
    const renewed = await issue({ durationSeconds: 1000 });
    expect(renewed).not.toEqual(first);
    expect(assumeCalls()).toHaveLength(2);
    provider.clearCredentialCache();
    clockOffsetMs = 0;
    await issue({ durationSeconds: 1000 });
    expect(assumeCalls()).toHaveLength(3);
  });

  it('passes an inline session policy, minified, given as an object or a JSON string', async () => {
    const policy = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['s3:GetObject'], Resource: 'arn:aws:s3:::billing/*' }] };
    await issue({ policy });
    await issue({ policy: JSON.stringify(policy, null, 2), durationSeconds: 900 });
    expect(assumeCalls().map((r) => r.params.Policy)).toEqual([JSON.stringify(policy), JSON.stringify(policy)]);
    expect([...sts.issued.values()].slice(-2).map((c) => c.policy)).toEqual([JSON.stringify(policy), JSON.stringify(policy)]);
  });

  it("reports STS's AccessDenied by its code (its message to the log only), without the token, and caches nothing", async () => {
    const error = await expectFailure(issue({ roleArn: 'arn:aws:iam::123456789012:role/admin' }), 'credential_provider_error', 'STS refused AssumeRoleWithWebIdentity: AccessDenied');
    expect(error.message).toBe('credential(aws-sts): STS refused AssumeRoleWithWebIdentity: AccessDenied');
    // AWS's own words, the status and the request id are for the operator's log.
    expect(error.upstream).toMatchObject({ status: 403, error: 'AccessDenied', description: 'Not authorized to perform sts:AssumeRoleWithWebIdentity', requestId: expect.any(String) });
    expect(JSON.stringify(error.upstream)).not.toContain('eyJ');
    await expectFailure(issue({ roleArn: 'arn:aws:iam::123456789012:role/admin' }), 'credential_provider_error', 'AccessDenied');
    expect(assumeCalls()).toHaveLength(2);
  });

  it('is refused by STS when the JWT does not verify: unknown key, wrong audience, expired, other issuer', async () => {
    const issuedBefore = sts.issued.size;
    const unknownKey = await expectFailure(issue({}, request, { ...context, signJwt: keyRingLike(issuer, strangerKey, []) }), 'credential_provider_error', ': InvalidIdentityToken');
    expect(unknownKey.upstream?.description).toMatch(/^The web identity token that was passed could not be validated by AWS/);
    const audience = await expectFailure(issue({ audience: 'api://tessera' }), 'credential_provider_error', ': InvalidIdentityToken');
    expect(audience.upstream).toMatchObject({ status: 400, description: expect.stringMatching(/^Incorrect token audience/) });
    await expectFailure(issue({}, request, { ...context, signJwt: keyRingLike(issuer, cloudKey, [], -3600) }), 'credential_provider_error', ': ExpiredTokenException');
    const otherIssuer = await expectFailure(issue({}, request, { ...context, signJwt: keyRingLike('https://other-issuer.example', cloudKey, []) }), 'credential_provider_error', ': InvalidIdentityToken');
    expect(otherIssuer.upstream?.description).toMatch(/^No OpenIDConnect provider found/);
    expect(sts.issued.size).toBe(issuedBefore);
    expect(assumeCalls().every((r) => r.status === 400)).toBe(true);
  });

  it("reports STS's validation errors (duration above the role's maximum)", async () => {
    const error = await expectFailure(issue({ durationSeconds: 10_800 }), 'credential_provider_error', 'STS refused AssumeRoleWithWebIdentity: ValidationError');
    expect(error.upstream).toMatchObject({ status: 400, description: 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.' });
  });

  it('redacts the token from an error message that echoes it', async () => {
    sts.responder = (recorded) => ({
      status: 400,
      body: `<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>bad token ${recorded.params.WebIdentityToken}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>`,
    });
    const error = await expectFailure(issue(), 'credential_provider_error', 'STS refused AssumeRoleWithWebIdentity: InvalidIdentityToken');
    expect(error.upstream?.description).toBe('bad token [redacted]');
  });

  it('reports an answer that is not STS XML, incomplete credentials, a redirect', async () => {
    sts.responder = () => ({ status: 502, body: '<html><body>Bad gateway</body></html>' });
    const badGateway = await expectFailure(issue(), 'credential_provider_error', 'STS request failed');
    expect(badGateway.upstream).toMatchObject({ status: 502 });
    sts.responder = () => ({
      status: 200,
      body: '<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIAX</AccessKeyId></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>',
    });
    await expectFailure(issue(), 'credential_provider_error', 'STS returned incomplete credentials');
    const redirecting = await startLoopbackServer((_req, res) => {
      res.writeHead(307, { location: 'https://evil.example/' }).end();
    });
    try {
      const redirect = await expectFailure(issue({ stsEndpoint: `${redirecting.origin}/` }), 'credential_provider_error', 'STS request failed');
      expect(redirect.upstream).toEqual({ endpoint: `${redirecting.origin}/`, status: 307, failure: 'redirect' });
    } finally {
      await redirecting.close();
    }
  });

  it('reports an unreachable endpoint and a deadline, and goes out through the cloud fetch only', async () => {
    const closed = await closedPortUrl();
    const attempts: string[] = [];
    const tracking: typeof fetch = (input, init) => {
      attempts.push(String(input));
      return fetch(input, init);
    };
    // The same message as any other failure (no port scanner); the operator's log says what happened.
    const refused = await expectFailure(issue({ stsEndpoint: closed }, request, { ...context, fetch: tracking }), 'credential_provider_error', 'STS request failed');
    expect(refused.message).toBe('credential(aws-sts): STS request failed');
    expect(refused.upstream).toEqual({ endpoint: closed, failure: 'network', networkCode: 'ECONNREFUSED' });
    expect(attempts).toEqual([closed, closed]); // one retry of a network failure
    sts.delayMs = 500;
    const slow = await expectFailure(issue({ timeoutMs: 150 }), 'credential_provider_error', 'STS request failed');
    expect(slow.message).toBe('credential(aws-sts): STS request failed');
    expect(slow.upstream).toMatchObject({ failure: 'timeout' });
    sts.delayMs = 0;
    const seen: string[] = [];
    const countingFetch: typeof fetch = (input, init) => {
      seen.push(String(input));
      return fetch(input, init);
    };
    await issue({ durationSeconds: 901 }, request, { ...context, fetch: countingFetch });
    expect(seen).toEqual([sts.url]);
    const refusing: typeof fetch = () => Promise.reject(new CredentialError('invalid_config', 'outbound URL not allowed'));
    await expectFailure(issue({ durationSeconds: 902 }, request, { ...context, fetch: refusing }), 'credential_provider_error', 'STS request');
  });

  it('lets one caller give up without cancelling the shared request', async () => {
    sts.delayMs = 80;
    const controller = new AbortController();
    const impatient = issue({}, request, { ...context, signal: controller.signal });
    const patient = issue();
    controller.abort();
    await expectFailure(impatient, 'credential_provider_error', 'STS request aborted');
    await expect(patient).resolves.toMatchObject({ kind: 'aws' });
    expect(assumeCalls()).toHaveLength(1);
  });

  it('fails closed without the cloud signer or with one that fails', async () => {
    const { signJwt: _unused, ...withoutSigner } = context;
    await expectFailure(issue({}, request, withoutSigner), 'credential_provider_error', 'the cloud offers no JWT signer');
    await expectFailure(issue({}, request, { ...context, signJwt: () => Promise.reject(new RangeError('lifetime too long')) }), 'credential_provider_error', 'signing the web identity token failed');
    expect(sts.requests).toHaveLength(0);
  });

  it('fails closed on an unvalidated config', async () => {
    await expect(provider.issue(request, { roleArn: 'role/admin', region: 'us-east-1' } as AwsStsConfig, {}, context)).rejects.toMatchObject({
      code: 'invalid_config',
      message: 'credential(aws-sts): roleArn must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)',
    });
    expect(sts.requests).toHaveLength(0);
  });
});
