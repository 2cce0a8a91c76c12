import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { s3Targets, serviceTargets } from '../../test/support/sigv4-corpus.js';
import { verifySigV4 } from '../../test/support/sigv4-verifier.js';
import { InjectionError } from './injection-error.js';
import { signAwsSigv4, STREAMED_BODY, type SigV4Request } from './sigv4.js';
import type { EdgeCredential } from './types.js';

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const SECRET = 'sigv4TestSecret/Do+Not+Leak0123456789abcd';
const SESSION_TOKEN = 'IQoJb3JpZ2luX2VjEXAMPLEsessionTOKENdoNotLeak==';
const temporary: EdgeCredential = { kind: 'aws', accessKeyId: 'ASIATESTEXAMPLE', secretAccessKey: SECRET, sessionToken: SESSION_TOKEN };
const s3 = { kind: 'aws-sigv4', region: 'eu-west-1', service: 's3' } as const;
const sqs = { kind: 'aws-sigv4', region: 'eu-west-1', service: 'sqs' } as const;
const NOW = new Date('2026-03-01T10:20:30Z');

function request(overrides: Partial<SigV4Request> = {}): SigV4Request {
  return { method: 'GET', scheme: 'https', host: 'bucket.s3.eu-west-1.amazonaws.com', port: 443, path: '/key', headers: {}, body: undefined, ...overrides };
}

function signatureOf(headers: Record<string, string>): string {
  return /Signature=([0-9a-f]{64})$/.exec(headers.authorization ?? '')?.[1] ?? '';
}

function signedHeadersOf(headers: Record<string, string>): string[] {
  return (/SignedHeaders=([^,]+),/.exec(headers.authorization ?? '')?.[1] ?? '').split(';');
}

describe('signAwsSigv4: published AWS examples', () => {
  // The aws-sig-v4-test-suite's credential, date and scope.
  const suite: EdgeCredential = { kind: 'aws', accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
  const suiteScope = { kind: 'aws-sigv4', region: 'us-east-1', service: 'service' } as const;
  const suiteDate = new Date('2015-08-30T12:36:00Z');
  const suiteRequest = (path: string): SigV4Request => request({ host: 'example.amazonaws.com', path });

  it.each([
    ['get-vanilla', '/', '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31'],
    ['get-vanilla-query-order-key-case', '/?Param2=value2&Param1=value1', 'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500'],
    ['get-vanilla-utf8-query', `/?${encodeURIComponent('ሴ')}=bar`, '2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04'],
  ])('%s', async (_name, path, signature) => {
    const headers = await signAwsSigv4(suiteRequest(path), suite, suiteScope, suiteDate);
    expect(headers).toEqual({
      host: 'example.amazonaws.com',
      'x-amz-date': '20150830T123600Z',
      authorization: `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=${signature}`,
    });
  });

  // The S3 developer guide's header-signing examples (examplebucket, 2013-05-24).
  const docs: EdgeCredential = { kind: 'aws', accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
  const docsScope = { kind: 'aws-sigv4', region: 'us-east-1', service: 's3' } as const;
  const docsDate = new Date('2013-05-24T00:00:00Z');
  const docsRequest = (path: string, headers: Record<string, string> = {}): SigV4Request =>
    request({ host: 'examplebucket.s3.amazonaws.com', path, headers });

  it.each([
    ['GET Object', '/test.txt', { range: 'bytes=0-9' }, 'host;range;x-amz-content-sha256;x-amz-date', 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41'],
    ['GET Bucket Lifecycle', '/?lifecycle', {}, 'host;x-amz-content-sha256;x-amz-date', 'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543'],
    ['Get Bucket (List Objects)', '/?max-keys=2&prefix=J', {}, 'host;x-amz-content-sha256;x-amz-date', '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7'],
  ])('S3 %s', async (_name, path, extra, signedHeaders, signature) => {
    const headers = await signAwsSigv4(docsRequest(path, extra), docs, docsScope, docsDate);
    expect(headers['x-amz-content-sha256']).toBe(EMPTY_SHA256);
    expect(headers.authorization).toBe(
      `AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=${signedHeaders}, Signature=${signature}`,
    );
  });
});

describe('signAwsSigv4: headers', () => {
  it('replaces the application signature and keeps every other header', async () => {
    const input = request({
      method: 'PUT',
      body: 'hello',
      headers: {
        authorization: 'AWS4-HMAC-SHA256 Credential=placeholder/20200101/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=00',
        'x-amz-date': '20200101T000000Z',
        'x-amz-security-token': 'placeholder-token',
        host: 'somewhere.else',
        'content-type': 'text/plain',
        'user-agent': 'app/1.0',
        date: 'Sun, 01 Mar 2026 10:20:30 GMT',
        'x-amz-meta-owner': 'team a',
      },
    });
    const before = structuredClone(input.headers);
    const headers = await signAwsSigv4(input, temporary, s3, NOW);
    expect(input.headers).toEqual(before); // input untouched
    expect(headers).toMatchObject({
      host: 'bucket.s3.eu-west-1.amazonaws.com',
      'x-amz-date': '20260301T102030Z',
      'x-amz-security-token': SESSION_TOKEN,
      'x-amz-content-sha256': createHash('sha256').update('hello').digest('hex'),
      'content-type': 'text/plain',
      'user-agent': 'app/1.0',
      date: 'Sun, 01 Mar 2026 10:20:30 GMT',
      'x-amz-meta-owner': 'team a',
    });
    expect(headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=ASIATESTEXAMPLE\/20260301\/eu-west-1\/s3\/aws4_request, SignedHeaders=/);
    // user-agent is never signed (proxies rewrite it); date is superseded by x-amz-date.
    expect(signedHeadersOf(headers)).toEqual(['content-type', 'host', 'x-amz-content-sha256', 'x-amz-date', 'x-amz-meta-owner', 'x-amz-security-token']);
  });

  it('sends no session token for a credential without one, dropping the application token', async () => {
    const { sessionToken: _, ...longTerm } = temporary as Extract<EdgeCredential, { kind: 'aws' }>;
    const headers = await signAwsSigv4(request({ headers: { 'x-amz-security-token': 'placeholder' } }), longTerm, s3, NOW);
    expect(headers['x-amz-security-token']).toBeUndefined();
    expect(signedHeadersOf(headers)).toEqual(['host', 'x-amz-content-sha256', 'x-amz-date']);
  });

  it.each([
    ['https', 'example.com', 443, 'example.com'],
    ['https', 'example.com', 8443, 'example.com:8443'],
    ['http', 'example.com', 80, 'example.com'],
    ['http', 'example.com', 443, 'example.com:443'],
    ['http', '127.0.0.1', 9000, '127.0.0.1:9000'],
    ['http', '::1', 9000, '[::1]:9000'],
    ['https', 'fd00::5', 443, '[fd00::5]'],
    ['https', '[fd00::5]', 8443, '[fd00::5]:8443'],
  ] as const)('host header for %s://%s:%i is %s', async (scheme, host, port, expected) => {
    const headers = await signAwsSigv4(request({ scheme, host, port }), temporary, s3, NOW);
    expect(headers.host).toBe(expected);
  });
});

describe('signAwsSigv4: payload hash', () => {
  it.each([
    ['a string', 'Welcome to Amazon S3.'],
    ['bytes', new Uint8Array([0, 1, 2, 250, 251, 252])],
    ['no body', undefined],
  ])('hashes a buffered body: %s', async (_label, body) => {
    const headers = await signAwsSigv4(request({ method: 'PUT', body }), temporary, s3, NOW);
    expect(headers['x-amz-content-sha256']).toBe(createHash('sha256').update(body ?? '').digest('hex'));
  });

  it.each(['UNSIGNED-PAYLOAD', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', EMPTY_SHA256])('keeps the application hash %s', async (hash) => {
    const headers = await signAwsSigv4(request({ method: 'PUT', body: STREAMED_BODY, headers: { 'x-amz-content-sha256': hash } }), temporary, s3, NOW);
    expect(headers['x-amz-content-sha256']).toBe(hash);
  });

  it('signs a streamed S3 body as UNSIGNED-PAYLOAD', async () => {
    const headers = await signAwsSigv4(request({ method: 'PUT', body: STREAMED_BODY, headers: { 'content-length': '5' } }), temporary, s3, NOW);
    expect(headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
    expect(signedHeadersOf(headers)).toContain('x-amz-content-sha256');
  });

  it('refuses a streamed S3 body over plain http: the unsigned body could be replaced on the way', async () => {
    const attempt = signAwsSigv4(request({ method: 'PUT', scheme: 'http', port: 80, body: STREAMED_BODY }), temporary, s3, NOW);
    await expect(attempt).rejects.toMatchObject({ code: 'body_not_signable', injection: 'aws-sigv4' });
    // The client's own hash (even an unsigned one) is its choice, and kept.
    const headers = await signAwsSigv4(request({ method: 'PUT', scheme: 'http', port: 80, body: STREAMED_BODY, headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } }), temporary, s3, NOW);
    expect(headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
  });

  it('refuses a streamed body for a service other than S3', async () => {
    const attempt = signAwsSigv4(request({ method: 'POST', body: STREAMED_BODY }), temporary, sqs, NOW);
    await expect(attempt).rejects.toBeInstanceOf(InjectionError);
    await expect(attempt).rejects.toMatchObject({ code: 'body_not_signable', injection: 'aws-sigv4' });
  });

  it('signs a streamed body for another service when the application sent its hash', async () => {
    const hash = createHash('sha256').update('Action=ListQueues').digest('hex');
    const headers = await signAwsSigv4(request({ method: 'POST', body: STREAMED_BODY, headers: { 'x-amz-content-sha256': hash } }), temporary, sqs, NOW);
    expect(headers['x-amz-content-sha256']).toBe(hash);
  });

  it('sends x-amz-content-sha256 to other services only when the application did', async () => {
    const headers = await signAwsSigv4(request({ method: 'POST', body: 'Action=ListQueues' }), temporary, sqs, NOW);
    expect(headers['x-amz-content-sha256']).toBeUndefined();
    expect(signedHeadersOf(headers)).toEqual(['host', 'x-amz-date', 'x-amz-security-token']);
  });

  it('refuses signed chunks, whose signatures chain from the one being replaced', async () => {
    const attempt = signAwsSigv4(request({ method: 'PUT', body: STREAMED_BODY, headers: { 'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' } }), temporary, s3, NOW);
    await expect(attempt).rejects.toMatchObject({ code: 'body_not_signable' });
  });
});

describe('signAwsSigv4: query', () => {
  const sign = async (path: string) => signatureOf(await signAwsSigv4(request({ path }), temporary, s3, NOW));

  it('does not depend on parameter order or on how a character was escaped', async () => {
    expect(await sign('/key?b=2&a=1')).toBe(await sign('/key?a=1&b=2'));
    expect(await sign('/key?a=x&a=w')).toBe(await sign('/key?a=w&a=x'));
    expect(await sign('/key?p=%7e%41')).toBe(await sign('/key?p=~A'));
    // A raw `+` is a space to AWS, as it is to any form decoder; `%2B` is a plus.
    expect(await sign('/key?p=a+b')).toBe(await sign('/key?p=a%20b'));
    expect(await sign('/key?p=a%2Bb')).not.toBe(await sign('/key?p=a%20b'));
    // `?acl` and `?acl=` are the same canonical parameter.
    expect(await sign('/key?acl')).toBe(await sign('/key?acl='));
  });

  it('covers every parameter, repeated ones included', async () => {
    const base = await sign('/key?a=1&a=2');
    expect(await sign('/key?a=1')).not.toBe(base);
    expect(await sign('/key?a=1&a=2&b=')).not.toBe(base);
    expect(await sign('/key?a=1&a=3')).not.toBe(base);
  });

  it('signs the S3 path in canonical form; other services normalise and escape it again', async () => {
    const signWith = async (path: string, scope: typeof s3 | typeof sqs) => signatureOf(await signAwsSigv4(request({ path }), temporary, scope, NOW));
    // S3 decodes the key: `+` and `%2B` are one key (a plus), `%7E` is `~`, `$` and `%24` are one.
    expect(await signWith('/a%2Bb', s3)).toBe(await signWith('/a+b', s3));
    expect(await signWith('/a%7Eb', s3)).toBe(await signWith('/a~b', s3));
    expect(await signWith('/a$b', s3)).toBe(await signWith('/a%24b', s3));
    // ... but keys are opaque: `./` and nothing are different objects.
    expect(await signWith('/a/./b', s3)).not.toBe(await signWith('/a/b', s3));
    // Other services normalise dot segments and escape the (already escaped) path once more.
    expect(await signWith('/a/./x/../b', sqs)).toBe(await signWith('/a/b', sqs));
    expect(await signWith('/a%20b', sqs)).not.toBe(await signWith('/a b', sqs));
  });

  it("signs the key of AWS's PUT Object example, test$file.text, over /test%24file.text", async () => {
    // The example also signs a Date header, which the signer replaces by x-amz-date; the
    // verifier, which reproduces the example exactly, checks the rest.
    const docs = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
    const at = new Date('2013-05-24T00:00:00Z');
    const input = request({ method: 'PUT', host: 'examplebucket.s3.amazonaws.com', path: '/test$file.text', headers: { 'x-amz-storage-class': 'REDUCED_REDUNDANCY' }, body: 'Welcome to Amazon S3.' });
    const headers = await signAwsSigv4(input, { kind: 'aws', ...docs }, { kind: 'aws-sigv4', region: 'us-east-1', service: 's3' }, at);
    const verified = verifySigV4({ method: 'PUT', target: '/test$file.text', headers, body: Buffer.from('Welcome to Amazon S3.') }, [docs], { region: 'us-east-1', service: 's3' }, at);
    expect(verified.canonicalRequest.split('\n')[1]).toBe('/test%24file.text');
  });

  it('escapes the path for other services as the AWS test suite does (get-space, get-utf8)', async () => {
    // The suite gives paths unescaped; the signer escapes what it is given, so a path on the
    // request line (already escaped once) ends up escaped twice, as AWS services other than S3 expect.
    const suite: EdgeCredential = { kind: 'aws', accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
    const sign = async (path: string) =>
      signatureOf(
        await signAwsSigv4(
          request({ host: 'example.amazonaws.com', path }),
          suite,
          { kind: 'aws-sigv4', region: 'us-east-1', service: 'service' },
          new Date('2015-08-30T12:36:00Z'),
        ),
      );
    expect(await sign('/example space/')).toBe('652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741');
    expect(await sign('/ሴ')).toBe('8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85');
  });
});

describe('signAwsSigv4: errors', () => {
  const cases: Array<[string, () => Promise<unknown>, string]> = [
    ['token credential', () => signAwsSigv4(request(), { kind: 'token', token: SECRET }, s3, NOW), 'credential_kind_mismatch'],
    ['basic credential', () => signAwsSigv4(request(), { kind: 'basic', username: 'svc', password: SECRET }, s3, NOW), 'credential_kind_mismatch'],
    ['empty region', () => signAwsSigv4(request(), temporary, { ...s3, region: '' }, NOW), 'invalid_injection'],
    ['empty service', () => signAwsSigv4(request(), temporary, { ...s3, service: '' }, NOW), 'invalid_injection'],
    ['region with a slash', () => signAwsSigv4(request(), temporary, { ...s3, region: 'eu/west' }, NOW), 'invalid_injection'],
    ['empty secret', () => signAwsSigv4(request(), { ...temporary, secretAccessKey: '' }, s3, NOW), 'invalid_credential_value'],
    ['token with CR LF', () => signAwsSigv4(request(), { ...temporary, sessionToken: `${SESSION_TOKEN}\r\nx-evil: 1` }, s3, NOW), 'invalid_credential_value'],
    ['streamed body, not S3', () => signAwsSigv4(request({ body: STREAMED_BODY }), temporary, sqs, NOW), 'body_not_signable'],
    [
      'signed chunks',
      () => signAwsSigv4(request({ body: STREAMED_BODY, headers: { 'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER' } }), temporary, s3, NOW),
      'body_not_signable',
    ],
  ];

  it.each(cases)('%s', async (_label, attempt, code) => {
    const error = await attempt().then(
      () => expect.unreachable('should have thrown'),
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(InjectionError);
    expect(error).toMatchObject({ code, injection: 'aws-sigv4' });
  });

  it('never puts the secret access key or the session token in a message', async () => {
    for (const [, attempt] of cases) {
      const error = (await attempt().catch((thrown: unknown) => thrown)) as Error;
      for (const text of [error.message, String(error), JSON.stringify(error), error.stack ?? '']) {
        expect(text).not.toContain(SECRET);
        expect(text).not.toContain(SESSION_TOKEN);
      }
    }
  });
});

describe('signAwsSigv4 against the independent verifier (sigv4-verifier.ts)', () => {
  const { kind: _, ...keys } = temporary as Extract<EdgeCredential, { kind: 'aws' }>;
  const lambda = { kind: 'aws-sigv4', region: 'eu-west-1', service: 'lambda' } as const;

  async function check(target: string, injection: typeof s3 | typeof lambda): Promise<void> {
    const body = `body for ${target}`;
    const input = request({ method: 'PUT', scheme: 'http', host: '127.0.0.1', port: 9000, path: target, headers: { 'content-type': 'text/plain', 'x-amz-meta-a': ' two  spaces ' }, body });
    const headers = await signAwsSigv4(input, temporary, injection, NOW);
    // The path is sent as given; the verifier reads it off the request line.
    const verified = verifySigV4({ method: 'PUT', target, headers, body: Buffer.from(body) }, [keys], injection, NOW);
    expect(verified.payloadSigned).toBe(true);
  }

  it.each(s3Targets())('S3 %s', (target) => check(target, s3));
  it.each(serviceTargets())('lambda %s', (target) => check(target, lambda));
});
