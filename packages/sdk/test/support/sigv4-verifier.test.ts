import { Readable } from 'node:stream';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { HttpResponse, type HttpRequest } from '@smithy/protocol-http';
import { describe, expect, it } from 'vitest';
import { S3_PATHS } from './sigv4-corpus.js';
import {
  canonicalQuery,
  canonicalRequest,
  canonicalUri,
  sha256Hex,
  signCanonicalRequest,
  SigV4Error,
  verifySigV4,
  type ReceivedSigV4Request,
} from './sigv4-verifier.js';

/** The request line carries bytes; Node's server hands them over one char per byte. */
const asReceived = (text: string) => Buffer.from(text, 'utf8').toString('latin1');
const EMPTY_SHA256 = sha256Hex('');

/**
 * The verifier is the reference the signer is tested against, so it is itself checked against
 * what AWS publishes: the Signature Version 4 test suite (example credential, 2015-08-30,
 * us-east-1, service `service`) and the S3 API reference's header-signing examples.
 */
describe('the verifier reproduces the AWS SigV4 test suite', () => {
  const secret = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
  const vanilla = '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31';
  const cases: Array<[name: string, method: string, target: string, headers: Record<string, string | string[]>, body: string, signature: string]> = [
    ['get-vanilla', 'GET', '/', {}, '', vanilla],
    ['get-vanilla-query-order-key-case', 'GET', '/?Param2=value2&Param1=value1', {}, '', 'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500'],
    ['get-vanilla-query-order-value', 'GET', '/?Param1=value2&Param1=value1', {}, '', '5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694'],
    ['get-vanilla-empty-query-key', 'GET', '/?Param1=value1', {}, '', 'a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb'],
    ['get-vanilla-utf8-query', 'GET', asReceived('/?ሴ=bar'), {}, '', '2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04'],
    [
      'get-vanilla-query-unreserved',
      'GET',
      '/?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
      {},
      '',
      '9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197',
    ],
    ['get-unreserved', 'GET', '/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', {}, '', '07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f'],
    ['get-space', 'GET', '/example space/', {}, '', '652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741'],
    ['get-utf8', 'GET', asReceived('/ሴ'), {}, '', '8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85'],
    ['normalize-path/get-relative', 'GET', '/example/..', {}, '', vanilla],
    ['normalize-path/get-relative-relative', 'GET', '/example1/example2/../..', {}, '', vanilla],
    ['normalize-path/get-slash', 'GET', '//', {}, '', vanilla],
    ['normalize-path/get-slash-dot-slash', 'GET', '/./', {}, '', vanilla],
    ['normalize-path/get-slashes', 'GET', '//example//', {}, '', '9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84'],
    ['normalize-path/get-slash-pointless-dot', 'GET', '/./example', {}, '', 'ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5'],
    ['get-header-value-trim', 'GET', '/', { 'my-header1': ' value1', 'my-header2': ' "a   b   c"' }, '', 'acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736'],
    ['get-header-key-duplicate', 'GET', '/', { 'my-header1': ['value2', 'value2', 'value1'] }, '', 'c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea'],
    ['post-vanilla', 'POST', '/', {}, '', '5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b'],
    ['post-vanilla-query', 'POST', '/?Param1=value1', {}, '', '28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11'],
    ['post-header-key-sort', 'POST', '/', { 'my-header1': 'value1' }, '', 'c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c'],
    ['post-header-value-case', 'POST', '/', { 'my-header1': 'VALUE1' }, '', 'cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d'],
    ['post-x-www-form-urlencoded', 'POST', '/', { 'content-type': 'application/x-www-form-urlencoded' }, 'Param1=value1', 'ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a'],
    [
      'post-x-www-form-urlencoded-parameters',
      'POST',
      '/',
      { 'content-type': 'application/x-www-form-urlencoded; charset=utf8' },
      'Param1=value1',
      '1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe',
    ],
  ];

  it.each(cases)('%s', (_name, method, target, extra, body, signature) => {
    const headers = { host: 'example.amazonaws.com', 'x-amz-date': '20150830T123600Z', ...extra };
    const request: ReceivedSigV4Request = { method, target, headers, body: Buffer.from(body) };
    const signedHeaders = Object.keys(headers).sort().join(';');
    const canonical = canonicalRequest(request, 'service', signedHeaders, sha256Hex(body));
    expect(signCanonicalRequest(canonical, secret, '20150830T123600Z', { region: 'us-east-1', service: 'service' })).toBe(signature);
  });
});

describe('the verifier reproduces the S3 API reference examples', () => {
  const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
  const s3 = { region: 'us-east-1', service: 's3' };
  const sign = (method: string, target: string, extra: Record<string, string>, signedHeaders: string, payloadHash: string) => {
    const headers = { host: 'examplebucket.s3.amazonaws.com', 'x-amz-date': '20130524T000000Z', 'x-amz-content-sha256': payloadHash, ...extra };
    const canonical = canonicalRequest({ method, target, headers, body: Buffer.alloc(0) }, 's3', signedHeaders, payloadHash);
    return { canonical, signature: signCanonicalRequest(canonical, secret, '20130524T000000Z', s3) };
  };

  it('PUT Object signs the key test$file.text as /test%24file.text', () => {
    const payload = sha256Hex('Welcome to Amazon S3.');
    const { canonical, signature } = sign(
      'PUT',
      '/test$file.text',
      { date: 'Fri, 24 May 2013 00:00:00 GMT', 'x-amz-storage-class': 'REDUCED_REDUNDANCY' },
      'date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class',
      payload,
    );
    expect(canonical.split('\n')[1]).toBe('/test%24file.text');
    expect(signature).toBe('98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd');
  });

  it.each([
    ['GET Object', '/test.txt', { range: 'bytes=0-9' }, 'host;range;x-amz-content-sha256;x-amz-date', 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41'],
    ['GET Bucket Lifecycle', '/?lifecycle', {}, 'host;x-amz-content-sha256;x-amz-date', 'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543'],
    ['Get Bucket (List Objects)', '/?max-keys=2&prefix=J', {}, 'host;x-amz-content-sha256;x-amz-date', '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7'],
  ])('%s', (_name, target, extra, signedHeaders, signature) => {
    expect(sign('GET', target, extra, signedHeaders, EMPTY_SHA256).signature).toBe(signature);
  });
});

describe('canonical forms', () => {
  it.each([
    ["/bucket/test$file%20(1)!'*@,.txt", '/bucket/test%24file%20%281%29%21%27%2A%40%2C.txt'],
    ['/bucket/a+b', '/bucket/a%2Bb'],
    ['/bucket/over%7Eencoded%41', '/bucket/over~encodedA'],
    ['/bucket/lower%c3%a9', '/bucket/lower%C3%A9'],
    ['/bucket/slash%2Finside', '/bucket/slash/inside'],
    ['/bucket/dot/./seg/../key//x/', '/bucket/dot/./seg/../key//x/'],
    ['/bucket/pct%25', '/bucket/pct%25'],
    ['', '/'],
  ])('S3 path %s → %s', (path, canonical) => {
    expect(canonicalUri(path, 's3')).toBe(canonical);
  });

  it.each([
    ['/a%20b/c$', '/a%2520b/c%24'],
    ['/dot/./seg/../key', '/dot/key'],
    ['/a/b/..', '/a/'],
    ['/double//slash//', '/double/slash/'],
    ['/over%7Eencoded', '/over%257Eencoded'],
  ])('other services: path %s → %s', (path, canonical) => {
    expect(canonicalUri(path, 'execute-api')).toBe(canonical);
  });

  it.each([
    ['b=2&a=1', 'a=1&b=2'],
    ['a=2&a=1&a=', 'a=&a=1&a=2'],
    ['flag&empty=&&', 'empty=&flag='],
    ['q=a+b&r=a%20b&s=%2B', 'q=a%20b&r=a%20b&s=%2B'],
    ['x=%7e&y=~', 'x=~&y=~'],
    ['x0=1&x%3D=2', 'x%3D=2&x0=1'],
    ['Zed=1&alpha=2', 'Zed=1&alpha=2'],
    ['prefix=a%2Fb&delimiter=/', 'delimiter=%2F&prefix=a%2Fb'],
  ])('query %s → %s', (query, canonical) => {
    expect(canonicalQuery(query)).toBe(canonical);
  });
});

/** A client that signs and hands its requests to `captured` instead of a network. */
function capturingS3Client(captured: HttpRequest[]): S3Client {
  return new S3Client({
    region: 'eu-central-1',
    endpoint: 'http://s3.test.invalid',
    forcePathStyle: true,
    credentials: { accessKeyId: 'AKIAVERIFIERTEST', secretAccessKey: 'verifier/secret+key0123456789abcdef' },
    maxAttempts: 1,
    requestHandler: {
      async handle(request: HttpRequest) {
        captured.push(request);
        return { response: new HttpResponse({ statusCode: 200, headers: {}, body: Readable.from([]) }) };
      },
    },
  });
}

/** The request as the server would receive it, from what the S3 client built and signed. */
function received(request: HttpRequest, body: Buffer): ReceivedSigV4Request {
  const query = Object.entries(request.query ?? {})
    .flatMap(([name, value]) => (Array.isArray(value) ? value : [value]).map((one) => (one === null ? name : `${name}=${encodeURIComponent(one)}`)))
    .join('&');
  const headers = Object.fromEntries(Object.entries(request.headers).map(([name, value]) => [name.toLowerCase(), value]));
  return { method: request.method, target: query ? `${request.path}?${query}` : request.path, headers, body };
}

describe("the verifier accepts the AWS SDK's own signatures for awkward keys", () => {
  const keys = [...S3_PATHS.map((path) => decodeURIComponent(path.slice('/corpus/'.length))), 'naïve file +1 (copy) 日本.txt', '~user/$HOME/#hash?', ' leading space'];

  it.each(keys)('PutObject and GetObject %j', async (key) => {
    const captured: HttpRequest[] = [];
    const client = capturingS3Client(captured);
    const body = Buffer.from(`object ${key}`);
    await client.send(new PutObjectCommand({ Bucket: 'corpus', Key: key, Body: body }));
    await client.send(new GetObjectCommand({ Bucket: 'corpus', Key: key })).catch(() => undefined);
    client.destroy();
    expect(captured).toHaveLength(2);
    const scope = { region: 'eu-central-1', service: 's3' };
    const credentials = [{ accessKeyId: 'AKIAVERIFIERTEST', secretAccessKey: 'verifier/secret+key0123456789abcdef' }];
    const put = verifySigV4(received(captured[0]!, body), credentials, scope);
    expect(put.payloadSigned).toBe(true);
    expect(verifySigV4(received(captured[1]!, Buffer.alloc(0)), credentials, scope).accessKeyId).toBe('AKIAVERIFIERTEST');
  });

  it('ListObjectsV2 with an awkward prefix and delimiter', async () => {
    const captured: HttpRequest[] = [];
    const client = capturingS3Client(captured);
    await client.send(new ListObjectsV2Command({ Bucket: 'corpus', Prefix: "a b+c/$(1)!'*=&;", Delimiter: '/', StartAfter: '~x' })).catch(() => undefined);
    client.destroy();
    const credentials = [{ accessKeyId: 'AKIAVERIFIERTEST', secretAccessKey: 'verifier/secret+key0123456789abcdef' }];
    expect(verifySigV4(received(captured[0]!, Buffer.alloc(0)), credentials, { region: 'eu-central-1', service: 's3' }).accessKeyId).toBe('AKIAVERIFIERTEST');
  });
});

describe('the verifier refuses what a server must refuse', () => {
  const credentials = [{ accessKeyId: 'AKIAVERIFIERTEST', secretAccessKey: 'verifier/secret+key0123456789abcdef' }];
  const scope = { region: 'eu-central-1', service: 's3' };

  async function signedPut(): Promise<ReceivedSigV4Request> {
    const captured: HttpRequest[] = [];
    const client = capturingS3Client(captured);
    await client.send(new PutObjectCommand({ Bucket: 'corpus', Key: 'a key', Body: Buffer.from('pay 10 EUR') }));
    client.destroy();
    return received(captured[0]!, Buffer.from('pay 10 EUR'));
  }

  it.each<[string, (request: ReceivedSigV4Request) => ReceivedSigV4Request, string]>([
    ['another key', (r) => ({ ...r, target: r.target.replace('a%20key', 'b%20key') }), 'SignatureDoesNotMatch'],
    ['another method', (r) => ({ ...r, method: 'POST' }), 'SignatureDoesNotMatch'],
    ['an added query parameter', (r) => ({ ...r, target: `${r.target}${r.target.includes('?') ? '&' : '?'}versionId=1` }), 'SignatureDoesNotMatch'],
    ['a changed signed header', (r) => ({ ...r, headers: { ...r.headers, 'content-type': 'text/html' } }), 'SignatureDoesNotMatch'],
    ['an unsigned x-amz header', (r) => ({ ...r, headers: { ...r.headers, 'x-amz-meta-late': '1' } }), 'AccessDenied'],
    ['another body', (r) => ({ ...r, body: Buffer.from('pay 99 EUR') }), 'XAmzContentSHA256Mismatch'],
  ])('%s', async (_label, tamper, code) => {
    const request = await signedPut();
    expect(verifySigV4(request, credentials, scope).payloadSigned).toBe(true);
    let error: unknown;
    try {
      verifySigV4(tamper(request), credentials, scope);
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(SigV4Error);
    expect(error).toMatchObject({ code });
  });
});
