/**
 * The `aws-iam` trust provider against the fake STS, which checks SigV4 for real: evidence is
 * made by the collector (or, for requests the collector would never make, by the AWS signer
 * directly), then verified as the cloud would, with a nonce store and a counting fetch.
 */
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Evidence, VerifyContext } from '../../contracts.js';
import type { IssuedStsCredentials } from '../../../test/support/fake-sts.js';
import { ProviderRegistry } from '../../registry.js';
import { validateProviderConfig } from '../../validate-config.js';
import { expectRefused } from '../../../test/support/jwt-fixtures.js';
import { startLoopbackServer } from '../../../test/support/loopback-server.js';
import { NodeSha256 } from './collect-sha256.js';
import { ACCOUNT_ID, type AwsIamWorld, countingFetch, NonceStore, OTHER_ROLE_ARN, ROLE_ARN, startAwsIamWorld, USER, verifyContext } from '../../../test/support/aws-iam-world.js';
import { type AwsIamConfig, type AwsIamCredentials, awsIamTrustProvider as provider, createAwsIamCollector } from './index.js';

const TYPE = 'aws-iam';
const CLOUD_A = 'https://tessera-a.example.com';
const CLOUD_B = 'https://tessera-b.example.com';

let world: AwsIamWorld;
let session: IssuedStsCredentials;
let config: AwsIamConfig;
let nonces: NonceStore;
let counted: ReturnType<typeof countingFetch>;
let ctx: VerifyContext;

beforeAll(async () => {
  world = await startAwsIamWorld();
  session = await world.assume();
});
afterAll(() => world.close());
beforeEach(() => {
  world.sts.requests.length = 0;
  world.sts.responder = undefined;
  config = { stsEndpoint: world.sts.url, region: 'us-east-1' };
  nonces = new NonceStore();
  counted = countingFetch();
  ctx = verifyContext(CLOUD_A, nonces, counted);
});

const roleCredentials = (issued: IssuedStsCredentials = session): AwsIamCredentials => ({
  accessKeyId: issued.accessKeyId,
  secretAccessKey: issued.secretAccessKey,
  sessionToken: issued.sessionToken,
});

/** Evidence as the SDK of cloud `audience` would collect it, with a nonce from `store`. */
async function collect(options: { credentials?: AwsIamCredentials; audience?: string; store?: NonceStore; now?: () => Date } = {}): Promise<Evidence & { headers: Record<string, string> }> {
  const credentials = options.credentials ?? roleCredentials();
  const collector = createAwsIamCollector({ stsEndpoint: world.sts.url, region: 'us-east-1', env: {}, credentials: async () => credentials, ...(options.now ? { now: options.now } : {}) });
  const store = options.store ?? nonces;
  return (await collector.collect({ audience: options.audience ?? CLOUD_A, nonce: store.issue })) as Evidence & { headers: Record<string, string> };
}

/** Signs a request the collector would never make: `unsignable` headers are sent but not signed. */
async function signRaw(headers: Record<string, string>, options: { unsignable?: string[]; credentials?: AwsIamCredentials } = {}) {
  const url = new URL(world.sts.url);
  const signer = new SignatureV4({
    service: 'sts',
    region: 'us-east-1',
    credentials: options.credentials ?? roleCredentials(),
    applyChecksum: false,
    sha256: NodeSha256,
  });
  const signed = await signer.sign(
    {
      method: 'POST',
      protocol: url.protocol,
      hostname: url.hostname,
      port: Number(url.port),
      path: '/',
      query: {},
      headers: { host: url.host, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', ...headers },
      body: 'Action=GetCallerIdentity&Version=2011-06-15',
    },
    options.unsignable === undefined ? {} : { unsignableHeaders: new Set(options.unsignable) },
  );
  return { type: TYPE, method: 'POST', url: world.sts.url, headers: { ...signed.headers } as Record<string, string>, body: 'Action=GetCallerIdentity&Version=2011-06-15' };
}

const verify = (evidence: unknown, overrides: Partial<AwsIamConfig> = {}, context: VerifyContext = ctx) => provider.verify(evidence as Evidence, { ...config, ...overrides }, context);

/** A refusal that leaks none of the request's secrets, whichever step refused it. */
async function expectSafeRefusal(promise: Promise<unknown>, code: 'evidence_invalid' | 'evidence_expired' | 'trust_provider_error' | 'invalid_config', message: string, evidence?: { headers: Record<string, string> }) {
  const error = await expectRefused(promise, { code, message, provider: TYPE });
  const secrets = [session.secretAccessKey, session.sessionToken, session.accessKeyId, USER.secretAccessKey, USER.accessKeyId];
  if (evidence !== undefined) {
    secrets.push(evidence.headers['x-tessera-nonce'] ?? '', /Signature=([0-9a-f]+)/.exec(evidence.headers.authorization ?? '')?.[1] ?? '');
  }
  for (const secret of secrets.filter((s) => s.length >= 8)) {
    expect(error.message).not.toContain(secret);
    expect(String(error.stack)).not.toContain(secret);
  }
  expect(error.cause).toBeUndefined();
  return error;
}

describe('aws-iam trust provider', () => {
  it('verifies a role session through STS and vouches for the role', async () => {
    const evidence = await collect();
    const identity = await verify(evidence);
    expect(identity).toEqual({
      claims: {
        'aws.accountId': ACCOUNT_ID,
        'aws.arn': `arn:aws:sts::${ACCOUNT_ID}:assumed-role/billing-reader/billing-7f3a`,
        'aws.userId': `AROA${ACCOUNT_ID}:billing-7f3a`,
        'aws.roleArn': ROLE_ARN,
        'aws.roleSessionName': 'billing-7f3a',
      },
      subject: `arn:aws:sts::${ACCOUNT_ID}:assumed-role/billing-reader/billing-7f3a`,
    });
    // STS (the fake) received exactly the signed request, binding headers included and signed.
    expect(counted.calls).toEqual([world.sts.url]);
    const [call] = world.sts.requests;
    expect(call).toMatchObject({ action: 'GetCallerIdentity', status: 200 });
    expect(call!.signedHeaders).toEqual(expect.arrayContaining(['host', 'x-amz-date', 'x-amz-security-token', 'x-tessera-nonce', 'x-tessera-server-id']));
    expect(call!.headers['x-tessera-server-id']).toBe(CLOUD_A);
    expect(call!.headers['x-tessera-nonce']).toBe(evidence.headers['x-tessera-nonce']);
    expect(nonces.consumed).toEqual([evidence.headers['x-tessera-nonce']]);
  });

  it('verifies an IAM user and gives aws.userArn, no role claims', async () => {
    const identity = await verify(await collect({ credentials: USER }));
    expect(identity.claims).toEqual({ 'aws.accountId': '210987654321', 'aws.arn': USER.arn, 'aws.userId': 'AIDAFAKEAWSIAMUSER01', 'aws.userArn': USER.arn });
    expect(world.sts.requests[0]!.signedHeaders).not.toContain('x-amz-security-token');
  });

  describe('replay', () => {
    it('refuses at cloud B a request captured at cloud A, without calling STS, and A still accepts it', async () => {
      const captured = await collect({ audience: CLOUD_A });
      // Cloud B: its own nonce store, its own audience. Even with B's server id swapped in, the signature would break.
      const cloudB = verifyContext(CLOUD_B, new NonceStore(), counted);
      await expectSafeRefusal(verify(captured, {}, cloudB), 'evidence_invalid', 'x-tessera-server-id does not name this cloud', captured);
      const relabelled = { ...captured, headers: { ...captured.headers, 'x-tessera-server-id': CLOUD_B } };
      await expectSafeRefusal(verify(relabelled, {}, cloudB), 'evidence_invalid', 'the nonce is not one this cloud issued to this key', captured);
      expect(counted.calls).toEqual([]);
      expect(world.sts.requests).toEqual([]);
      // The nonce was not spent by the refusals at B: A accepts its own request once.
      await expect(verify(captured)).resolves.toMatchObject({ claims: { 'aws.roleArn': ROLE_ARN } });
    });

    it('refuses a request whose server id was rewritten and whose nonce B issued: STS sees the tampering', async () => {
      const captured = await collect({ audience: CLOUD_A });
      const storeB = new NonceStore();
      const nonceB = await storeB.issue();
      const forged = { ...captured, headers: { ...captured.headers, 'x-tessera-server-id': CLOUD_B, 'x-tessera-nonce': nonceB } };
      await expectSafeRefusal(verify(forged, {}, verifyContext(CLOUD_B, storeB, counted)), 'evidence_invalid', 'STS refused the signed request: SignatureDoesNotMatch', captured);
      expect(world.sts.requests.map((r) => r.error)).toEqual(['SignatureDoesNotMatch']);
    });

    it('refuses the same request twice: the nonce is single use', async () => {
      const evidence = await collect();
      await verify(evidence);
      await expectSafeRefusal(verify(evidence), 'evidence_invalid', 'the nonce is not one this cloud issued to this key, or it was already used', evidence);
      expect(counted.calls).toHaveLength(1);
    });

    it('refuses a nonce the cloud did not issue (or issued to another key), without calling STS', async () => {
      const evidence = await collect({ store: new NonceStore() });
      await expectSafeRefusal(verify(evidence), 'evidence_invalid', 'the nonce is not one this cloud issued to this key', evidence);
      expect(counted.calls).toEqual([]);
    });

    it('refuses when the cloud offers no consumeNonce, and when it fails', async () => {
      const evidence = await collect();
      await expectSafeRefusal(verify(evidence, {}, verifyContext(CLOUD_A, undefined, counted)), 'trust_provider_error', 'no consumeNonce');
      await expectSafeRefusal(verify(evidence, {}, { ...ctx, consumeNonce: () => Promise.reject(new Error('database down')) }), 'trust_provider_error', 'the nonce could not be checked');
      expect(counted.calls).toEqual([]);
    });

    it('refuses a request without a nonce header, or with one that is not signed', async () => {
      const nonce = await nonces.issue();
      const withoutNonce = await signRaw({ 'x-tessera-server-id': CLOUD_A });
      await expectSafeRefusal(verify(withoutNonce), 'evidence_invalid', 'header x-tessera-nonce must be signed');
      const unsignedNonce = await signRaw({ 'x-tessera-server-id': CLOUD_A, 'x-tessera-nonce': nonce }, { unsignable: ['x-tessera-nonce'] });
      await expectSafeRefusal(verify(unsignedNonce), 'evidence_invalid', 'header x-tessera-nonce must be signed');
      expect(counted.calls).toEqual([]);
      expect(nonces.consumed).toEqual([]);
    });
  });

  describe('checks before any network call', () => {
    it('refuses a url other than the configured stsEndpoint, and never calls it', async () => {
      let answered = 0;
      const evil = await startLoopbackServer((_request, response) => {
        answered += 1;
        response.writeHead(200, { 'content-type': 'text/xml' });
        response.end(
          '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>' +
            `<Arn>arn:aws:sts::${ACCOUNT_ID}:assumed-role/admin/x1</Arn><UserId>AROAEVILEVILEVIL:x1</UserId><Account>${ACCOUNT_ID}</Account>` +
            '</GetCallerIdentityResult></GetCallerIdentityResponse>',
        );
      });
      try {
        const evidence = await collect();
        const port = new URL(world.sts.url).port;
        for (const url of [`${evil.origin}/`, 'https://sts.amazonaws.com/', `http://localhost:${port}/`, `${world.sts.url}?Action=GetCallerIdentity`, `${world.sts.url}x`, world.sts.url.replace(/\/$/, '')]) {
          await expectSafeRefusal(verify({ ...evidence, url }), 'evidence_invalid', 'url is not the configured stsEndpoint', evidence);
        }
        // An evil endpoint whose host the workload also put in the signed headers changes nothing.
        const evilHost = { ...evidence, url: `${evil.origin}/`, headers: { ...evidence.headers, host: new URL(evil.origin).host } };
        await expectSafeRefusal(verify(evilHost), 'evidence_invalid', 'url is not the configured stsEndpoint', evidence);
        expect(counted.calls).toEqual([]);
        expect(answered).toBe(0);
        expect(nonces.consumed).toEqual([]);
      } finally {
        await evil.close();
      }
    });

    it('refuses an unsigned binding header (the signature alone would satisfy STS)', async () => {
      const nonce = await nonces.issue();
      const evidence = await signRaw({ 'x-tessera-server-id': CLOUD_A, 'x-tessera-nonce': nonce }, { unsignable: ['x-tessera-server-id'] });
      expect(evidence.headers.authorization).not.toContain('x-tessera-server-id');
      await expectSafeRefusal(verify(evidence), 'evidence_invalid', 'header x-tessera-server-id must be signed');
      expect(counted.calls).toEqual([]);
      // STS itself would have accepted it: the check has to be ours.
      const { host: _host, ...headers } = evidence.headers;
      const direct = await fetch(world.sts.url, { method: 'POST', headers, body: evidence.body });
      expect(direct.status).toBe(200);
    });

    it('refuses a request signed too long ago or in the future (x-amz-date vs maxSkewSeconds)', async () => {
      const old = await collect({ now: () => new Date(Date.now() - 301_000) });
      await expectSafeRefusal(verify(old), 'evidence_expired', 'x-amz-date is more than maxSkewSeconds (300) old', old);
      const future = await collect({ now: () => new Date(Date.now() + 301_000) });
      await expectSafeRefusal(verify(future), 'evidence_invalid', 'x-amz-date is more than maxSkewSeconds (300) in the future', future);
      const ninetySecondsOld = await collect({ now: () => new Date(Date.now() - 90_000) });
      await expectSafeRefusal(verify(ninetySecondsOld, { maxSkewSeconds: 60 }), 'evidence_expired', 'maxSkewSeconds (60)', ninetySecondsOld);
      expect(counted.calls).toEqual([]);
      await expect(verify(await collect({ now: () => new Date(Date.now() - 120_000) }))).resolves.toMatchObject({ claims: { 'aws.roleArn': ROLE_ARN } });
    });

    it('refuses a wrong method, body, content-type, host, region or service scope', async () => {
      const evidence = await collect();
      const auth = evidence.headers.authorization!;
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ method: 'GET' }, 'method must be POST'],
        [{ body: 'Action=GetCallerIdentity&Version=2011-06-15&Extra=1' }, 'body is not the GetCallerIdentity request'],
        [{ body: 'Action=AssumeRole&Version=2011-06-15' }, 'body is not the GetCallerIdentity request'],
        [{ body: 'Action=GetCallerIdentity&Version=2011-06-15&' }, 'body is not the GetCallerIdentity request'],
        [{ headers: { ...evidence.headers, 'content-type': 'text/plain' } }, 'content-type must be application/x-www-form-urlencoded'],
        [{ headers: { ...evidence.headers, host: 'sts.amazonaws.com' } }, "the host header is not the stsEndpoint's host"],
        [{ headers: { ...evidence.headers, authorization: auth.replace('/us-east-1/', '/eu-west-1/') } }, 'the signature is not scoped to region us-east-1'],
        [{ headers: { ...evidence.headers, authorization: auth.replace('/sts/', '/s3/') } }, 'the signature is not scoped to service sts'],
        [{ headers: { ...evidence.headers, authorization: auth.replace('AWS4-HMAC-SHA256', 'AWS4-ECDSA-P256-SHA256') } }, 'authorization is not an AWS4-HMAC-SHA256 signature'],
        [{ headers: { ...evidence.headers, authorization: auth.replace(/Signature=[0-9a-f]+/, 'Signature=abc') } }, 'authorization is not an AWS4-HMAC-SHA256 signature'],
        [{ headers: { ...evidence.headers, authorization: auth.replace(/SignedHeaders=/, 'SignedHeaders=zz;') } }, 'SignedHeaders is malformed'],
        [{ headers: { ...evidence.headers, authorization: auth.replace(/(SignedHeaders=[^,]*)/, '$1;zzz') } }, 'signed header zzz is missing'],
        [{ headers: { ...evidence.headers, 'x-amz-date': '2025-06-01T12:00:00Z' } }, 'x-amz-date is not an ISO 8601 basic date'],
        [{ headers: { ...evidence.headers, 'x-amz-date': '20250231T120000Z' } }, 'x-amz-date is not an ISO 8601 basic date'],
        [{ headers: { ...evidence.headers, authorization: auth.replace(/Credential=([A-Z0-9]+)\/\d{8}\//, 'Credential=$1/20000101/') } }, 'the credential scope date is not the date of x-amz-date'],
      ];
      for (const [change, message] of cases) await expectSafeRefusal(verify({ ...evidence, ...change }), 'evidence_invalid', message, evidence);
      const { authorization: _auth, ...unsigned } = evidence.headers;
      await expectSafeRefusal(verify({ ...evidence, headers: unsigned }), 'evidence_invalid', 'the request is not signed', evidence);
      expect(counted.calls).toEqual([]);
      expect(nonces.consumed).toEqual([]);
    });

    it('refuses malformed and oversized evidence', async () => {
      const evidence = await collect();
      const shape = `evidence must be { type: '${TYPE}', method, url, headers, body }`;
      for (const bad of [null, 'text', [], { type: 'jwt' }, { ...evidence, headers: [] }, { ...evidence, headers: 'x' }, { ...evidence, body: 7 }, { ...evidence, url: undefined }, { ...evidence, type: 'aws-ec2-instance-identity' }]) {
        await expectSafeRefusal(verify(bad), 'evidence_invalid', shape);
      }
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ url: `${world.sts.url}${'a'.repeat(2048)}` }, 'url is too long'],
        [{ body: 'A'.repeat(257) }, 'body is not the GetCallerIdentity request'],
        [{ headers: { ...evidence.headers, 'x-forwarded-for': '10.0.0.1' } }, 'header x-forwarded-for is not accepted'],
        [{ headers: { ...evidence.headers, 'Content-Type': 'x' } }, 'header names must be lower-case tokens'],
        [{ headers: { ...evidence.headers, 'x-amz-security-token': 'A'.repeat(8193) } }, 'header x-amz-security-token is invalid'],
        [{ headers: { ...evidence.headers, 'x-tessera-nonce': 'a\r\nx-injected: 1' } }, 'header x-tessera-nonce is invalid'],
        [{ headers: { ...evidence.headers, 'x-amz-security-token': 7 } }, 'header x-amz-security-token is invalid'],
        [{ headers: { ...evidence.headers, 'x-tessera-nonce': 'two words' } }, 'x-tessera-nonce is not a nonce'],
      ];
      for (const [change, message] of cases) await expectSafeRefusal(verify({ ...evidence, ...change }), 'evidence_invalid', message, evidence);
      expect(counted.calls).toEqual([]);
    });
  });

  describe("STS's refusals", () => {
    it('surfaces a tampered body (parameters reordered after signing) as evidence_invalid with SignatureDoesNotMatch', async () => {
      const evidence = await collect();
      const tampered = { ...evidence, body: 'Version=2011-06-15&Action=GetCallerIdentity' };
      const error = await expectSafeRefusal(verify(tampered), 'evidence_invalid', 'STS refused the signed request: SignatureDoesNotMatch', evidence);
      expect(error.message).toBe('trust(aws-iam): STS refused the signed request: SignatureDoesNotMatch');
      expect(error.message).not.toContain('calculated'); // AWS's message is not relayed
      expect(error.upstream).toMatchObject({ status: 403, error: 'SignatureDoesNotMatch', requestId: expect.any(String) });
      expect(world.sts.requests.map((r) => r.error)).toEqual(['SignatureDoesNotMatch']);
    });

    it('surfaces a tampered signed header (x-amz-date moved by a second) as SignatureDoesNotMatch', async () => {
      const evidence = await collect();
      const date = evidence.headers['x-amz-date']!;
      const moved = `${date.slice(0, 13)}${String((Number(date.slice(13, 15)) + 1) % 60).padStart(2, '0')}Z`;
      await expectSafeRefusal(verify({ ...evidence, headers: { ...evidence.headers, 'x-amz-date': moved } }), 'evidence_invalid', 'SignatureDoesNotMatch', evidence);
    });

    it('surfaces InvalidClientTokenId and ExpiredToken with their codes', async () => {
      const unknownKey = await collect({ credentials: { accessKeyId: 'AKIAUNKNOWNUNKNOWN00', secretAccessKey: 'whatever-secret-0123456789' } });
      await expectSafeRefusal(verify(unknownKey), 'evidence_invalid', 'STS refused the signed request: InvalidClientTokenId', unknownKey);
      const expiring = await world.assume(ROLE_ARN, 'short-lived');
      const evidence = await collect({ credentials: roleCredentials(expiring) });
      expiring.expiration = new Date(Date.now() - 1000);
      const error = await expectSafeRefusal(verify(evidence), 'evidence_invalid', 'STS refused the signed request: ExpiredToken', evidence);
      expect(error.message).not.toContain(expiring.sessionToken);
    });

    it("treats STS's own failures, and answers that are not STS's, as trust_provider_error with one message", async () => {
      const endpoint = world.sts.url;
      const cases: Array<[{ status: number; body: string }, object]> = [
        [{ status: 400, body: '<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r-1</RequestId></ErrorResponse>' }, { endpoint, status: 400, error: 'Throttling', requestId: 'r-1' }],
        [{ status: 503, body: '<ErrorResponse><Error><Code>ServiceUnavailable</Code></Error></ErrorResponse>' }, { endpoint, status: 503, error: 'ServiceUnavailable' }],
        [{ status: 403, body: '<ErrorResponse><Error><Code>SecretInternalHostName</Code></Error></ErrorResponse>' }, { endpoint, status: 403, error: 'SecretInternalHostName' }],
        [{ status: 502, body: '<html>bad gateway</html>' }, { endpoint, status: 502, failure: 'unreadable' }],
        [{ status: 200, body: '{"Arn":"arn:aws:iam::123456789012:root"}' }, { endpoint, status: 200, failure: 'unreadable' }],
        [{ status: 302, body: '' }, { endpoint, status: 302, failure: 'redirect' }],
      ];
      for (const [answer, upstream] of cases) {
        world.sts.responder = () => answer;
        const error = await expectSafeRefusal(verify(await collect()), 'trust_provider_error', 'STS could not check the signed request');
        expect(error.message).toBe('trust(aws-iam): STS could not check the signed request');
        expect(error.upstream).toEqual(upstream);
      }
    });

    it('reads the GetCallerIdentity answer strictly', async () => {
      const result = (inner: string, root = '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">') =>
        `<?xml version="1.0" encoding="UTF-8"?>\n${root}<GetCallerIdentityResult>${inner}</GetCallerIdentityResult></GetCallerIdentityResponse>`;
      const good = `<Arn>arn:aws:iam::${ACCOUNT_ID}:root</Arn><UserId>${ACCOUNT_ID}</UserId><Account>${ACCOUNT_ID}</Account>`;
      world.sts.responder = () => ({ status: 200, body: result(good) });
      await expect(verify(await collect())).resolves.toEqual({
        claims: { 'aws.accountId': ACCOUNT_ID, 'aws.arn': `arn:aws:iam::${ACCOUNT_ID}:root`, 'aws.userId': ACCOUNT_ID },
        subject: `arn:aws:iam::${ACCOUNT_ID}:root`,
      });
      // A leaf AWS might add one day is tolerated; entities are decoded.
      world.sts.responder = () => ({ status: 200, body: result(`${good}<NewField>x</NewField>`) });
      await expect(verify(await collect())).resolves.toMatchObject({ claims: { 'aws.accountId': ACCOUNT_ID } });

      const unreadable = [
        result(good, '<GetCallerIdentityResponse>'),
        result(good, '<GetCallerIdentityResponse xmlns="https://example.com/">'),
        result(`${good}<Arn>arn:aws:iam::${ACCOUNT_ID}:root</Arn>`),
        result(`<Arn>arn:aws:iam::${ACCOUNT_ID}:root</Arn><Account>${ACCOUNT_ID}</Account>`),
        `<!DOCTYPE x [<!ENTITY e "arn">]>${result(good)}`,
        result(good.replace('<Account>', '<!-- c --><Account>')),
        result(good.replace('<Account>', '<Account a="1">')),
        result(good.replace(`<Account>${ACCOUNT_ID}`, `<Account><![CDATA[${ACCOUNT_ID}]]>`)),
        result(good.replace('</Account>', '')),
        `${result(good)}<Extra/>`,
        result(`text${good}`),
        result(good.replace('</Arn>', '&bogus;</Arn>')),
      ];
      for (const body of unreadable) {
        world.sts.responder = () => ({ status: 200, body });
        const error = await expectSafeRefusal(verify(await collect()), 'trust_provider_error', 'STS could not check the signed request');
        expect(error.upstream).toMatchObject({ status: 200, failure: 'unreadable' });
      }
      const unexpected = [
        good.replace(`<Account>${ACCOUNT_ID}`, '<Account>210987654321'), // the ARN's account is not Account
        good.replace(`:root`, ':group/admins'),
        good.replace(`<UserId>${ACCOUNT_ID}`, '<UserId>a b'),
      ];
      for (const inner of unexpected) {
        world.sts.responder = () => ({ status: 200, body: result(inner) });
        await expectSafeRefusal(verify(await collect()), 'trust_provider_error', 'STS answered a caller identity of an unexpected form');
      }
    });

    it('reports an unreachable or slow STS as trust_provider_error', async () => {
      world.sts.delayMs = 400;
      try {
        const slow = await expectSafeRefusal(verify(await collect(), { timeoutMs: 100 }), 'trust_provider_error', 'STS could not check the signed request');
        expect(slow.upstream).toMatchObject({ failure: 'timeout' });
      } finally {
        world.sts.delayMs = 0;
      }
      const refusing = { ...ctx, fetch: (() => Promise.reject(new TypeError('fetch failed'))) as typeof fetch };
      const refused = await expectSafeRefusal(verify(await collect(), {}, refusing), 'trust_provider_error', 'STS could not check the signed request');
      expect(refused.upstream).toMatchObject({ failure: 'network' });
    });
  });

  describe('allow-lists', () => {
    it('accepts listed accounts only', async () => {
      await expect(verify(await collect(), { accountIds: ['999999999999', ACCOUNT_ID] })).resolves.toMatchObject({ claims: { 'aws.accountId': ACCOUNT_ID } });
      const error = await expectSafeRefusal(verify(await collect(), { accountIds: ['999999999999'] }), 'evidence_invalid', "the caller's account is not an allowed account");
      expect(error.message).not.toContain(ACCOUNT_ID);
      await expectSafeRefusal(verify(await collect({ credentials: USER }), { accountIds: [ACCOUNT_ID] }), 'evidence_invalid', 'not an allowed account');
    });

    it('accepts listed roles only, exactly or by a * in the role name', async () => {
      await expect(verify(await collect(), { roleArns: [ROLE_ARN] })).resolves.toMatchObject({ claims: { 'aws.roleArn': ROLE_ARN } });
      await expect(verify(await collect(), { roleArns: [`arn:aws:iam::${ACCOUNT_ID}:role/billing-*`] })).resolves.toMatchObject({ claims: { 'aws.roleArn': ROLE_ARN } });
      await expect(verify(await collect(), { roleArns: [`arn:aws:iam::${ACCOUNT_ID}:role/*`] })).resolves.toBeDefined();
      const ci = await world.assume(OTHER_ROLE_ARN, 'deploy-1');
      for (const roleArns of [[ROLE_ARN], [`arn:aws:iam::${ACCOUNT_ID}:role/billing-*`], [`arn:aws:iam::999999999999:role/*`], [`arn:aws:iam::${ACCOUNT_ID}:role/ci`]]) {
        await expectSafeRefusal(verify(await collect({ credentials: roleCredentials(ci) }), { roleArns }), 'evidence_invalid', "the caller's role is not in roleArns");
      }
      // `.` in a pattern is literal, not "any character".
      await expectSafeRefusal(verify(await collect(), { roleArns: [`arn:aws:iam::${ACCOUNT_ID}:role/billing.reader`] }), 'evidence_invalid', 'not in roleArns');
      await expectSafeRefusal(verify(await collect({ credentials: USER }), { roleArns: [`arn:aws:iam::210987654321:role/*`] }), 'evidence_invalid', 'the caller is not an IAM role session, and roleArns is set');
    });
  });

  it('fails closed on an unvalidated config', async () => {
    const evidence = await collect();
    await expectSafeRefusal(verify(evidence, { stsEndpoint: 'http://sts.example.com/' }), 'invalid_config', 'stsEndpoint must use https (http only on a loopback host)');
    await expectSafeRefusal(provider.verify(evidence, {} as AwsIamConfig, ctx), 'invalid_config', 'stsEndpoint is required');
    expect(counted.calls).toEqual([]);
  });

  it('registers like any trust provider', () => {
    expect(new ProviderRegistry().registerTrustProvider(provider).listTrustProviders({ evidenceType: TYPE })).toEqual([TYPE]);
  });
});

describe('aws-iam config', () => {
  const problems = (value: unknown) => {
    const result = validateProviderConfig(provider, value);
    return result.ok ? [] : result.errors.map((error) => `${error.path} ${error.message}`.trim());
  };

  it('derives the region from an AWS STS host and fills the defaults', () => {
    expect(validateProviderConfig(provider, { stsEndpoint: 'https://sts.eu-west-1.amazonaws.com' })).toEqual({
      ok: true,
      value: { stsEndpoint: 'https://sts.eu-west-1.amazonaws.com', maxSkewSeconds: 300, timeoutMs: 5000 },
    });
    for (const stsEndpoint of ['https://sts.amazonaws.com/', 'https://sts.eu-west-1.amazonaws.com/', 'https://sts-fips.us-gov-west-1.amazonaws.com/', 'https://sts.cn-north-1.amazonaws.com.cn/']) {
      expect(problems({ stsEndpoint })).toEqual([]);
    }
  });

  it('needs an https (or loopback http) endpoint without query, and a region it cannot derive', () => {
    expect(problems({})).toEqual(['/stsEndpoint is required']);
    expect(problems({ stsEndpoint: 'http://sts.amazonaws.com/' })).toEqual(['stsEndpoint must use https (http only on a loopback host)']);
    expect(problems({ stsEndpoint: 'https://sts.amazonaws.com/?Action=GetCallerIdentity' })).toEqual(['stsEndpoint must not contain a query']);
    expect(problems({ stsEndpoint: 'https://user:pw@sts.amazonaws.com/' })).toEqual(['stsEndpoint must not contain credentials']);
    expect(problems({ stsEndpoint: 'https://vpce-0abc.sts.eu-west-1.vpce.amazonaws.com/' })).toEqual(['region is required when stsEndpoint is not an AWS STS host']);
    expect(problems({ stsEndpoint: 'https://vpce-0abc.sts.eu-west-1.vpce.amazonaws.com/', region: 'eu-west-1' })).toEqual([]);
    expect(problems({ stsEndpoint: 'https://sts.amazonaws.com/', region: 'eu-west-1' })).toEqual(['region does not match the region of stsEndpoint']);
    expect(problems({ stsEndpoint: 'http://127.0.0.1:8080/', region: 'us-east-1' })).toEqual([]);
  });

  it('checks the allow-lists and ranges, and refuses role paths with the reason', () => {
    const base = { stsEndpoint: 'https://sts.amazonaws.com/' };
    expect(problems({ ...base, roleArns: ['arn:aws:iam::123456789012:role/ci-*', 'arn:aws-us-gov:iam::123456789012:role/x'], accountIds: ['123456789012'] })).toEqual([]);
    expect(problems({ ...base, roleArns: ['arn:aws:iam::123456789012:role/service/ci'] })).toEqual([
      'roleArns[0] must not have a role path: an assumed-role ARN names the role without it (arn:aws:iam::<account>:role/<name>)',
    ]);
    expect(problems({ ...base, roleArns: ['arn:aws:iam::123456789012:user/ci'] })).toHaveLength(1);
    expect(problems({ ...base, roleArns: [] })).toHaveLength(1);
    expect(problems({ ...base, accountIds: ['12345'] })).toHaveLength(1);
    expect(problems({ ...base, maxSkewSeconds: 901 })).toHaveLength(1);
    expect(problems({ ...base, maxSkewSeconds: 29 })).toHaveLength(1);
    expect(problems({ ...base, timeoutMs: 50 })).toHaveLength(1);
    expect(problems({ ...base, audience: 'x' })).toEqual(['/audience is not a known property']);
  });
});
