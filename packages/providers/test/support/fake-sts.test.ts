/**
 * The fake STS checks GetCallerIdentity signatures for real (a later `aws-iam` trust provider
 * will rely on that): these tests sign with the AWS SDK's own SigV4 signer and tamper with the
 * signed requests in the SDK's middleware stack.
 */
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeSts, type FakeSts } from './fake-sts.js';

const USER = { accessKeyId: 'AKIAFAKESTSTESTUSER1', secretAccessKey: 'fake/secret+KEY0123456789abcdefghijklmnop', arn: 'arn:aws:iam::210987654321:user/ci' };

let sts: FakeSts;
beforeAll(async () => {
  sts = await startFakeSts({ roles: [], users: [USER], region: 'eu-west-1' });
});
afterAll(() => sts.close());
beforeEach(() => {
  sts.requests.length = 0;
});

type Tamper = (request: { headers: Record<string, string>; body?: unknown }) => void;

/** GetCallerIdentity through the SDK; `tamper` changes the request after it was signed. */
async function callerIdentity(credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }, options: { region?: string; tamper?: Tamper } = {}) {
  const client = new STSClient({ region: options.region ?? 'eu-west-1', endpoint: sts.url, credentials, maxAttempts: 1 });
  if (options.tamper !== undefined) {
    const tamper = options.tamper;
    type Args = { request: Parameters<Tamper>[0] };
    const middleware = (next: (args: Args) => Promise<unknown>) => async (args: Args) => {
      tamper(args.request);
      return next(args);
    };
    // Runs after the SDK's signer, on the wire-ready request.
    client.middlewareStack.addRelativeTo(middleware as never, { relation: 'after', toMiddleware: 'httpSigningMiddleware', name: 'tamperAfterSigning' });
  }
  try {
    return await client.send(new GetCallerIdentityCommand({}));
  } finally {
    client.destroy();
  }
}

const refusal = async (promise: Promise<unknown>) => {
  const error = (await promise.then(
    () => expect.fail('expected a refusal'),
    (reason: unknown) => reason,
  )) as { name: string; $metadata: { httpStatusCode?: number } };
  return { code: error.name, status: error.$metadata.httpStatusCode };
};

describe('fake STS GetCallerIdentity', () => {
  it('answers the caller of a correctly signed request', async () => {
    await expect(callerIdentity(USER)).resolves.toMatchObject({ Arn: USER.arn, Account: '210987654321', UserId: 'AIDAFAKESTSTESTUSER1' });
    const [recorded] = sts.requests;
    expect(recorded).toMatchObject({ action: 'GetCallerIdentity', status: 200 });
    expect(recorded!.signedHeaders).toEqual(expect.arrayContaining(['host', 'x-amz-date']));
  });

  it('refuses a wrong secret, an unknown key, the wrong region', async () => {
    expect(await refusal(callerIdentity({ ...USER, secretAccessKey: `${USER.secretAccessKey}x` }))).toEqual({ code: 'SignatureDoesNotMatch', status: 403 });
    expect(await refusal(callerIdentity({ ...USER, accessKeyId: 'AKIAUNKNOWNUNKNOWN00' }))).toEqual({ code: 'InvalidClientTokenId', status: 403 });
    expect(await refusal(callerIdentity(USER, { region: 'us-east-1' }))).toEqual({ code: 'SignatureDoesNotMatch', status: 403 });
    expect(await refusal(callerIdentity({ ...USER, sessionToken: 'not-for-a-user' }))).toEqual({ code: 'InvalidClientTokenId', status: 403 });
  });

  it('refuses a request changed after signing: body, signed header, an added x-amz-* header', async () => {
    const tampered: Tamper[] = [
      (request) => {
        request.body = `${String(request.body)}&Extra=1`;
        request.headers['content-length'] = String(Buffer.byteLength(request.body as string));
      },
      (request) => {
        request.headers['x-amz-date'] = '20200101T000000Z';
      },
      (request) => {
        request.headers['x-amz-server-id'] = 'tessera.example.com';
      },
    ];
    for (const tamper of tampered) expect(await refusal(callerIdentity(USER, { tamper }))).toEqual({ code: 'SignatureDoesNotMatch', status: 403 });
    expect(sts.requests.map((r) => r.error)).toEqual(['SignatureDoesNotMatch', 'SignatureDoesNotMatch', 'SignatureDoesNotMatch']);
  });

  it('refuses an unsigned request', async () => {
    const response = await fetch(sts.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'Action=GetCallerIdentity&Version=2011-06-15',
    });
    expect(response.status).toBe(403);
    expect(await response.text()).toContain('<Code>MissingAuthenticationToken</Code>');
  });
});
