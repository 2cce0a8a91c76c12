/**
 * The `aws-iam` collector: what it signs, with which credentials, for which endpoint and
 * region, and that the cloud side accepts it end to end (fake STS, real SigV4 checks).
 * Environments are passed as the `env` option: process.env is never read or changed here.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CollectContext, Evidence } from '../../contracts.js';
import type { IssuedStsCredentials } from '../../../test/support/fake-sts.js';
import { TrustError } from '../../errors.js';
import { AUDIENCE, expectRefused } from '../../../test/support/jwt-fixtures.js';
import { ACCOUNT_ID, type AwsIamWorld, countingFetch, NonceStore, ROLE_ARN, startAwsIamWorld, USER, verifyContext } from '../../../test/support/aws-iam-world.js';
import {
  AWS_IAM_ENABLE_ENV,
  AWS_IAM_STS_ENDPOINT_ENV,
  type AwsIamCollectorOptions,
  awsIamCollector,
  awsIamTrustProvider,
  createAwsIamCollector,
} from './index.js';

const TYPE = 'aws-iam';
const KEYS = { accessKeyId: 'AKIAEXAMPLECOLLECT01', secretAccessKey: 'collector/test+SECRET0123456789abcdefgh' };
const KEYS_ENV = { AWS_ACCESS_KEY_ID: KEYS.accessKeyId, AWS_SECRET_ACCESS_KEY: KEYS.secretAccessKey };

let world: AwsIamWorld;
let session: IssuedStsCredentials;
let nonces: NonceStore;
let ctx: CollectContext;

beforeAll(async () => {
  world = await startAwsIamWorld();
  session = await world.assume(ROLE_ARN, 'lambda-billing');
});
afterAll(() => world.close());
beforeEach(() => {
  world.sts.requests.length = 0;
  nonces = new NonceStore();
  ctx = { audience: AUDIENCE, nonce: nonces.issue };
});

/** The session's keys as the Lambda / ECS / IRSA runtime puts them in the environment. */
const sessionEnv = (extra: Record<string, string> = {}) => ({
  AWS_ACCESS_KEY_ID: session.accessKeyId,
  AWS_SECRET_ACCESS_KEY: session.secretAccessKey,
  AWS_SESSION_TOKEN: session.sessionToken,
  ...extra,
});

const signedHeadersOf = (evidence: Evidence) => /SignedHeaders=([^,]+)/.exec((evidence.headers as Record<string, string>).authorization ?? '')?.[1]?.split(';');
const scopeOf = (evidence: Evidence) => /Credential=[A-Z0-9]+\/(\d{8}\/[^/]+\/[^/]+\/aws4_request)/.exec((evidence.headers as Record<string, string>).authorization ?? '')?.[1];

describe('aws-iam collector', () => {
  it('signs GetCallerIdentity with environment credentials, and the trust provider accepts it once', async () => {
    const env = sessionEnv({ [AWS_IAM_STS_ENDPOINT_ENV]: world.sts.url, AWS_REGION: 'us-east-1' });
    const collector = createAwsIamCollector({ env });
    expect(collector).toMatchObject({ type: TYPE, evidenceType: TYPE });
    expect(await collector.detect()).toBe(true);

    const evidence = await collector.collect(ctx);
    const headers = evidence.headers as Record<string, string>;
    expect(evidence).toEqual({ type: TYPE, method: 'POST', url: world.sts.url, headers: expect.any(Object), body: 'Action=GetCallerIdentity&Version=2011-06-15' });
    expect(Object.keys(headers).sort()).toEqual(['authorization', 'content-type', 'host', 'x-amz-date', 'x-amz-security-token', 'x-tessera-nonce', 'x-tessera-server-id']);
    expect(headers).toMatchObject({
      host: new URL(world.sts.url).host,
      'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
      'x-tessera-server-id': AUDIENCE,
      'x-tessera-nonce': [...nonces.issued][0],
      'x-amz-security-token': session.sessionToken,
    });
    // Every header sent is signed, the binding ones included.
    expect(signedHeadersOf(evidence)).toEqual(['content-type', 'host', 'x-amz-date', 'x-amz-security-token', 'x-tessera-nonce', 'x-tessera-server-id']);
    expect(scopeOf(evidence)).toMatch(/^\d{8}\/us-east-1\/sts\/aws4_request$/);
    // The secret key never leaves the workload.
    expect(JSON.stringify(evidence)).not.toContain(session.secretAccessKey);

    // The cloud's side, end to end: a nonce store that remembers, the real fetch to the fake STS.
    const fetchFn = countingFetch();
    const verifyCtx = verifyContext(AUDIENCE, nonces, fetchFn);
    const config = { stsEndpoint: world.sts.url, region: 'us-east-1', accountIds: [ACCOUNT_ID], roleArns: [ROLE_ARN] };
    await expect(awsIamTrustProvider.verify(evidence, config, verifyCtx)).resolves.toEqual({
      claims: {
        'aws.accountId': ACCOUNT_ID,
        'aws.arn': `arn:aws:sts::${ACCOUNT_ID}:assumed-role/billing-reader/lambda-billing`,
        'aws.userId': `AROA${ACCOUNT_ID}:lambda-billing`,
        'aws.roleArn': ROLE_ARN,
        'aws.roleSessionName': 'lambda-billing',
      },
      subject: `arn:aws:sts::${ACCOUNT_ID}:assumed-role/billing-reader/lambda-billing`,
    });
    expect(world.sts.requests).toMatchObject([{ action: 'GetCallerIdentity', status: 200 }]);
    await expectRefused(awsIamTrustProvider.verify(evidence, config, verifyCtx), { code: 'evidence_invalid', message: 'already used', provider: TYPE });
    expect(fetchFn.calls).toHaveLength(1);

    // A fresh collection gets a fresh nonce and verifies again.
    await expect(awsIamTrustProvider.verify(await collector.collect(ctx), config, verifyCtx)).resolves.toMatchObject({ claims: { 'aws.roleArn': ROLE_ARN } });
  });

  it('signs with long-term keys (no session token) and with a credentials function', async () => {
    const withKeys = await createAwsIamCollector({ stsEndpoint: world.sts.url, region: 'us-east-1', env: { AWS_ACCESS_KEY_ID: USER.accessKeyId, AWS_SECRET_ACCESS_KEY: USER.secretAccessKey } }).collect(ctx);
    expect(withKeys.headers).not.toHaveProperty('x-amz-security-token');
    const viaFunction = await createAwsIamCollector({ stsEndpoint: world.sts.url, region: 'us-east-1', env: {}, credentials: async () => USER }).collect(ctx);
    const verifyCtx = verifyContext(AUDIENCE, nonces, fetch);
    for (const evidence of [withKeys, viaFunction]) {
      await expect(awsIamTrustProvider.verify(evidence, { stsEndpoint: world.sts.url, region: 'us-east-1' }, verifyCtx)).resolves.toMatchObject({ claims: { 'aws.userArn': USER.arn } });
    }
  });

  it('needs a nonce from the cloud: fails clearly when the SDK offers none or the cloud gives none', async () => {
    const collector = createAwsIamCollector({ env: KEYS_ENV });
    await expectRefused(collector.collect({ audience: AUDIENCE }), { code: 'trust_provider_error', message: 'aws-iam needs a nonce from the cloud (POST /edge/v1/challenge)', provider: TYPE });
    await expectRefused(collector.collect({ audience: AUDIENCE, nonce: () => Promise.reject(new Error('503')) }), {
      code: 'trust_provider_error',
      message: 'could not get a nonce from the cloud',
      provider: TYPE,
    });
    const fromCloud = new TrustError('trust_provider_error', 'cloud unreachable');
    await expect(collector.collect({ audience: AUDIENCE, nonce: () => Promise.reject(fromCloud) })).rejects.toBe(fromCloud);
    for (const nonce of ['', 'a\r\nb', 'x'.repeat(4097)]) {
      await expectRefused(collector.collect({ audience: AUDIENCE, nonce: async () => nonce }), { code: 'trust_provider_error', message: 'cannot be sent as a header', provider: TYPE });
    }
  });

  it('chooses the endpoint and region: option, TESSERA_AWS_STS_ENDPOINT, then the regional or global endpoint', async () => {
    const collectWith = async (options: AwsIamCollectorOptions) => createAwsIamCollector({ credentials: async () => KEYS, ...options }).collect(ctx);
    const cases: Array<[AwsIamCollectorOptions, string, string]> = [
      [{ env: {} }, 'https://sts.amazonaws.com/', 'us-east-1'],
      [{ env: { AWS_REGION: 'eu-west-1' } }, 'https://sts.eu-west-1.amazonaws.com/', 'eu-west-1'],
      [{ env: { AWS_DEFAULT_REGION: 'ap-southeast-2' } }, 'https://sts.ap-southeast-2.amazonaws.com/', 'ap-southeast-2'],
      [{ env: { AWS_REGION: 'cn-north-1', AWS_DEFAULT_REGION: 'eu-west-1' } }, 'https://sts.cn-north-1.amazonaws.com.cn/', 'cn-north-1'],
      [{ env: {}, region: 'eu-central-1' }, 'https://sts.eu-central-1.amazonaws.com/', 'eu-central-1'],
      // The endpoint's own region wins over the environment's: the signature must match the host.
      [{ env: { [AWS_IAM_STS_ENDPOINT_ENV]: 'https://sts.eu-central-1.amazonaws.com', AWS_REGION: 'eu-west-1' } }, 'https://sts.eu-central-1.amazonaws.com/', 'eu-central-1'],
      [{ env: { [AWS_IAM_STS_ENDPOINT_ENV]: 'https://sts.amazonaws.com', AWS_REGION: 'eu-west-1' } }, 'https://sts.amazonaws.com/', 'us-east-1'],
      [{ env: { [AWS_IAM_STS_ENDPOINT_ENV]: 'https://vpce-1.sts.eu-west-1.vpce.amazonaws.com/', AWS_REGION: 'eu-west-1' } }, 'https://vpce-1.sts.eu-west-1.vpce.amazonaws.com/', 'eu-west-1'],
      [{ env: { [AWS_IAM_STS_ENDPOINT_ENV]: 'https://sts.eu-west-1.amazonaws.com/' }, stsEndpoint: 'https://sts.us-west-2.amazonaws.com/' }, 'https://sts.us-west-2.amazonaws.com/', 'us-west-2'],
    ];
    for (const [options, url, region] of cases) {
      const evidence = await collectWith(options);
      expect({ url: evidence.url, region: scopeOf(evidence)?.split('/')[1] }).toEqual({ url, region });
      expect((evidence.headers as Record<string, string>).host).toBe(new URL(url).host);
    }
  });

  it('refuses an endpoint or region it cannot sign for, naming the setting', async () => {
    const cases: Array<[AwsIamCollectorOptions, string]> = [
      [{ env: { [AWS_IAM_STS_ENDPOINT_ENV]: 'http://sts.amazonaws.com/' } }, `${AWS_IAM_STS_ENDPOINT_ENV} must use https (http only on a loopback host)`],
      [{ env: { [AWS_IAM_STS_ENDPOINT_ENV]: 'sts.amazonaws.com' } }, `${AWS_IAM_STS_ENDPOINT_ENV} must be an absolute URL`],
      [{ stsEndpoint: 'https://sts.amazonaws.com/?Action=AssumeRole' }, 'stsEndpoint must not contain a query'],
      [{ region: 'EU' }, 'region must be an AWS region'],
      [{ env: { AWS_REGION: 'somewhere' } }, 'AWS_REGION (or AWS_DEFAULT_REGION) must be an AWS region'],
    ];
    for (const [options, message] of cases) {
      await expectRefused(createAwsIamCollector({ env: {}, credentials: async () => KEYS, ...options }).collect(ctx), { code: 'invalid_config', message, provider: TYPE });
    }
    expect(nonces.issued.size).toBe(0); // nothing asked of the cloud for a collection that cannot succeed
    await expectRefused(createAwsIamCollector({ env: {}, credentials: async () => KEYS }).collect({ audience: 'https://tessera.test/a b', nonce: nonces.issue }), {
      code: 'invalid_config',
      message: 'the cloud URL cannot be sent as a header',
      provider: TYPE,
    });
  });

  it('reports missing credentials without their details', async () => {
    const leaky = Object.assign(new Error(`secret ${KEYS.secretAccessKey} in a message`), { name: 'CredentialsProviderError' });
    await expectRefused(createAwsIamCollector({ env: {}, credentials: () => Promise.reject(leaky) }).collect(ctx), {
      code: 'trust_provider_error',
      message: 'no AWS credentials: the AWS default credential chain found none (CredentialsProviderError)',
      provider: TYPE,
    }).then((error) => expect(error.message).not.toContain(KEYS.secretAccessKey));
    await expectRefused(createAwsIamCollector({ env: {}, credentials: async () => ({ accessKeyId: 'AKIA', secretAccessKey: '' }) }).collect(ctx), {
      code: 'trust_provider_error',
      message: 'the credentials found are incomplete',
      provider: TYPE,
    });
    expect(nonces.issued.size).toBe(0);
  });

  it('signs at the given clock', async () => {
    const evidence = await createAwsIamCollector({ env: KEYS_ENV, now: () => new Date('2025-06-01T12:34:56Z') }).collect(ctx);
    expect((evidence.headers as Record<string, string>)['x-amz-date']).toBe('20250601T123456Z');
    expect(scopeOf(evidence)).toBe('20250601/us-east-1/sts/aws4_request');
  });

  describe('detect()', () => {
    const detect = (env: Record<string, string | undefined>) => createAwsIamCollector({ env }).detect();

    it('is true where the default chain finds credentials without a network probe', async () => {
      for (const env of [
        { AWS_ACCESS_KEY_ID: 'AKIA...', AWS_SECRET_ACCESS_KEY: 's' },
        { AWS_WEB_IDENTITY_TOKEN_FILE: '/var/run/secrets/eks.amazonaws.com/serviceaccount/token', AWS_ROLE_ARN: ROLE_ARN },
        { AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '/v2/credentials/abc' },
        { AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://169.254.170.23/v1/credentials' },
        { AWS_LAMBDA_FUNCTION_NAME: 'billing' },
        { [AWS_IAM_ENABLE_ENV]: 'true' },
        { [AWS_IAM_ENABLE_ENV]: ' TRUE ' },
      ]) {
        expect(await detect(env), JSON.stringify(env)).toBe(true);
      }
      expect(await createAwsIamCollector({ env: {}, credentials: async () => KEYS }).detect()).toBe(true);
    });

    it('is false elsewhere (EC2 instance roles need TESSERA_AWS_IAM=true), and TESSERA_AWS_IAM=false turns it off', async () => {
      for (const env of [{}, { AWS_ACCESS_KEY_ID: 'AKIA...' }, { AWS_REGION: 'eu-west-1' }, { AWS_LAMBDA_FUNCTION_NAME: ' ' }, { [AWS_IAM_ENABLE_ENV]: 'false', AWS_LAMBDA_FUNCTION_NAME: 'billing' }]) {
        expect(await detect(env), JSON.stringify(env)).toBe(false);
      }
    });
  });

  it('has a built-in instance', () => {
    expect(awsIamCollector).toMatchObject({ specificationVersion: 'v1', type: TYPE, evidenceType: TYPE });
  });
});
