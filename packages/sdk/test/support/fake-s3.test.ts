import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { signAwsSigv4, STREAMED_BODY } from '../../src/inject/sigv4.js';
import type { EdgeCredential } from '../../src/inject/types.js';
import { startFakeS3, type FakeS3, type FakeS3Credential } from './fake-s3.js';

const REGION = 'eu-central-1';
const BUCKET = 'tessera-test';
const LONG_TERM: FakeS3Credential = { accessKeyId: 'AKIAFAKES3LONGTERM', secretAccessKey: 'fakeS3/long+term+secret0123456789abcdefgh' };
const TEMPORARY = {
  accessKeyId: 'ASIAFAKES3TEMPORARY',
  secretAccessKey: 'fakeS3/temporary+secret0123456789abcdefgh',
  sessionToken: 'FQoGZXIvYXdzEXAMPLE//fake+s3+session+token==',
} satisfies FakeS3Credential;
const PLACEHOLDER: FakeS3Credential = { accessKeyId: 'placeholder', secretAccessKey: 'placeholder' };
const temporaryCredential: EdgeCredential = { kind: 'aws', ...TEMPORARY };
const s3Injection = { kind: 'aws-sigv4', region: REGION, service: 's3' } as const;

let fake: FakeS3;
const clients: S3Client[] = [];

beforeAll(async () => {
  fake = await startFakeS3({ credentials: [LONG_TERM, TEMPORARY], region: REGION });
});
afterAll(async () => {
  for (const client of clients) client.destroy();
  await fake.close();
});
beforeEach(() => {
  fake.requests.length = 0;
  fake.objects.clear();
});

function s3(credentials: FakeS3Credential, config: Partial<S3ClientConfig> = {}): S3Client {
  const client = new S3Client({ region: REGION, endpoint: fake.url, forcePathStyle: true, credentials, maxAttempts: 1, ...config });
  clients.push(client);
  return client;
}

/** The S3 error a command failed with: its code (the SDK's `name`) and HTTP status. */
async function failure(attempt: Promise<unknown>): Promise<{ name: string; status: number | undefined; message: string }> {
  const error = await attempt.then(
    () => expect.unreachable('the request should have been refused'),
    (thrown: unknown) => thrown as Error & { $metadata?: { httpStatusCode?: number } },
  );
  return { name: error.name, status: error.$metadata?.httpStatusCode, message: error.message };
}

/** Replace the request body after the SDK signed it (the deserialize step runs after signing). */
function tamperAfterSigning(client: S3Client, tamper: (body: Buffer) => Buffer): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { body: unknown };
      const original = request.body instanceof Readable ? Buffer.concat(await request.body.toArray()) : Buffer.from(request.body as Uint8Array);
      request.body = request.body instanceof Readable ? Readable.from([tamper(original)]) : tamper(original);
      return next(args);
    },
    { step: 'deserialize', priority: 'low' },
  );
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Send a request as given (no SDK) to the fake. */
function send(method: string, path: string, headers: Record<string, string>, body?: Buffer | Readable): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest({ host: '127.0.0.1', port: fake.port, method, path, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
      response.on('error', reject);
    });
    outgoing.on('error', reject);
    if (body instanceof Readable) body.pipe(outgoing);
    else outgoing.end(body);
  });
}

/** Sign with signAwsSigv4 for the temporary credential and send. */
async function sendSigned(
  method: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer | undefined,
  options: { credential?: EdgeCredential; now?: Date } = {},
): Promise<Answer> {
  const signed = await signAwsSigv4(
    { method, scheme: 'http', host: '127.0.0.1', port: fake.port, path, headers, body },
    options.credential ?? temporaryCredential,
    s3Injection,
    options.now,
  );
  return send(method, path, signed, body);
}

/** A key as the SDK puts it on the path: each segment percent-encoded. */
function keyPath(key: string): string {
  return `/${BUCKET}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

describe('fake S3 with the AWS SDK v3 client', () => {
  it('round-trips a Buffer body through PutObject and GetObject', async () => {
    const client = s3(LONG_TERM);
    const key = 'dir/naïve file +1 (copy) 日本.txt';
    const body = Buffer.from('hello from the fake S3\n');
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
    expect(fake.objects.get(`${BUCKET}/${key}`)).toEqual(body);

    const got = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(Buffer.from(await got.Body!.transformToByteArray())).toEqual(body);
    expect(fake.requests.map((r) => [r.method, r.verified])).toEqual([
      ['PUT', true],
      ['GET', true],
    ]);
    // The SDK adds a CRC32 header checksum, which the fake checked against the bytes.
    expect(fake.requests[0]!.headers['x-amz-checksum-crc32']).toBeTypeOf('string');
  });

  it('takes a streamed body with a ContentLength (aws-chunked with an unsigned CRC32 trailer)', async () => {
    const client = s3(LONG_TERM);
    const parts = [Buffer.alloc(70_000, 'a'), Buffer.from('middle'), Buffer.alloc(12_345, 'z')];
    const expected = Buffer.concat(parts);
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'streamed.bin', Body: Readable.from(parts), ContentLength: expected.length }));
    expect(fake.objects.get(`${BUCKET}/streamed.bin`)).toEqual(expected);
    const [put] = fake.requests;
    expect(put).toMatchObject({ verified: true });
    expect(put!.headers).toMatchObject({
      'content-encoding': 'aws-chunked',
      'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
      'x-amz-trailer': 'x-amz-checksum-crc32',
      'x-amz-decoded-content-length': String(expected.length),
    });
  });

  it('answers HeadObject and DeleteObject', async () => {
    const client = s3(LONG_TERM);
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'head-me', Body: Buffer.from('12345') }));
    const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'head-me' }));
    expect(head.ContentLength).toBe(5);
    expect(head.ETag).toBe('"827ccb0eea8a706c4c34a16891f84e7b"');

    await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'head-me' }));
    expect(fake.objects.has(`${BUCKET}/head-me`)).toBe(false);
    expect(await failure(client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'head-me' })))).toMatchObject({ name: 'NotFound', status: 404 });
    expect(fake.requests.every((r) => r.verified)).toBe(true);
  });

  it('answers NoSuchKey for a missing object', async () => {
    const client = s3(LONG_TERM);
    expect(await failure(client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'nothing here' })))).toMatchObject({ name: 'NoSuchKey', status: 404 });
  });

  it('lists objects by prefix (ListObjectsV2)', async () => {
    const client = s3(LONG_TERM);
    for (const key of ['logs/a b.txt', 'logs/ü.txt', 'other/c.txt']) fake.objects.set(`${BUCKET}/${key}`, Buffer.from(key));
    const listed = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'logs/' }));
    expect(listed.Contents?.map((object) => [object.Key, object.Size])).toEqual([
      ['logs/a b.txt', 12],
      ['logs/ü.txt', 11],
    ]);
  });

  it('accepts temporary credentials with their session token', async () => {
    const client = s3(TEMPORARY);
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'temp', Body: Buffer.from('t') }));
    expect(fake.requests[0]).toMatchObject({ verified: true, headers: { 'x-amz-security-token': TEMPORARY.sessionToken } });
  });

  it.each([
    ['a wrong secret', { ...LONG_TERM, secretAccessKey: 'not-the-secret' }, 'SignatureDoesNotMatch', 403],
    ['an unknown access key id', { accessKeyId: 'AKIAUNKNOWN', secretAccessKey: LONG_TERM.secretAccessKey }, 'InvalidAccessKeyId', 403],
    ['a wrong session token', { ...TEMPORARY, sessionToken: 'another-token' }, 'InvalidToken', 403],
    ['a missing session token', { accessKeyId: TEMPORARY.accessKeyId, secretAccessKey: TEMPORARY.secretAccessKey }, 'InvalidToken', 403],
  ])('refuses %s', async (_label, credentials, code, status) => {
    const client = s3(credentials);
    expect(await failure(client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'refused', Body: Buffer.from('x') })))).toMatchObject({ name: code, status });
    expect(fake.requests[0]).toMatchObject({ verified: false, error: expect.stringContaining(code) });
    expect(fake.objects.size).toBe(0);
  });

  it('refuses a signature scoped to another region', async () => {
    const client = s3(LONG_TERM, { region: 'us-west-2' });
    expect(await failure(client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'k' })))).toMatchObject({ name: 'AuthorizationHeaderMalformed', status: 400 });
  });

  it('refuses a Buffer body tampered with after signing', async () => {
    const client = s3(LONG_TERM);
    tamperAfterSigning(client, (body) => Buffer.from(body.toString().replace('pay', 'PAY')));
    expect(await failure(client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'tampered', Body: Buffer.from('pay 10 EUR') })))).toMatchObject({
      name: 'XAmzContentSHA256Mismatch',
      status: 400,
    });
    expect(fake.requests[0]).toMatchObject({ verified: false });
    expect(fake.objects.size).toBe(0);
  });

  it('refuses a streamed body tampered with after signing (the CRC32 trailer no longer matches)', async () => {
    // The SDK warns on the console when a streamed upload fails; the failure is the point here.
    const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };
    const client = s3(LONG_TERM, { logger: quiet });
    tamperAfterSigning(client, (body) => Buffer.from(body.toString('latin1').replace('pay 10', 'pay 99'), 'latin1'));
    const body = Buffer.from('pay 10 EUR');
    expect(
      await failure(client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'tampered', Body: Readable.from([body]), ContentLength: body.length }))),
    ).toMatchObject({ name: 'BadDigest', status: 400 });
    expect(fake.objects.size).toBe(0);
  });

  it('refuses x-amz-* headers added after signing', async () => {
    const client = s3(LONG_TERM);
    client.middlewareStack.add(
      (next) => async (args) => {
        (args.request as { headers: Record<string, string> }).headers['x-amz-meta-added'] = 'late';
        return next(args);
      },
      { step: 'deserialize', priority: 'low' },
    );
    expect(await failure(client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'k', Body: Buffer.from('x') })))).toMatchObject({ name: 'AccessDenied', status: 403 });
  });

  it('refuses a request without authorization', async () => {
    const answer = await send('GET', `/${BUCKET}/k`, {});
    expect(answer.status).toBe(403);
    expect(answer.body.toString()).toContain('<Code>AccessDenied</Code>');
    expect(fake.requests[0]).toMatchObject({ verified: false, error: expect.stringContaining('AccessDenied') });
  });
});

describe('signAwsSigv4 against the fake S3', () => {
  const key = 'uploads/a key with spaces/ünïcödé 日本 +plus&eq=.txt';

  it('signs a PUT with a Buffer body; the S3 client reads back the same key', async () => {
    const body = Buffer.from('signed by tessera');
    const answer = await sendSigned('PUT', `${keyPath(key)}?x-id=PutObject`, { 'content-type': 'text/plain', 'content-length': String(body.length) }, body);
    expect(answer.status).toBe(200);
    expect(fake.requests[0]).toMatchObject({ verified: true });

    const got = await s3(TEMPORARY).send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(Buffer.from(await got.Body!.transformToByteArray())).toEqual(body);
  });

  it("signs a path with characters left unescaped (S3 signs them escaped; '+' is a plus)", async () => {
    const path = `/${BUCKET}/raw+plus!*'()@:$,;=`;
    const answer = await sendSigned('PUT', path, {}, Buffer.from('raw'));
    expect(answer.status).toBe(200);
    expect(fake.objects.has(`${BUCKET}/raw+plus!*'()@:$,;=`)).toBe(true);
  });

  it('signs a GET with an odd query exactly as sent', async () => {
    fake.objects.set(`${BUCKET}/${key}`, Buffer.from('odd'));
    const query = [
      'x-id=GetObject',
      'response-cache-control=no-cache',
      'empty=',
      'flag',
      'dup=b',
      'dup=a',
      'dup=',
      'plus-is-space=a+b',
      'pct-space=a%20b',
      'plus=%2B1',
      'unicode=%C3%BC%E6%97%A5',
      'lower-hex=%c3%bc',
      'tilde=~x',
      'reserved=%21%2A%27%28%29',
      'raw=a/b:c@d,e',
      'Zed=upper-case-sorts-first',
    ].join('&');
    const answer = await sendSigned('GET', `${keyPath(key)}?${query}`, {}, undefined);
    expect(answer.status).toBe(200);
    expect(answer.body.toString()).toBe('odd');
    expect(fake.requests[0]).toMatchObject({ verified: true });
  });

  it('signs a streamed PUT as UNSIGNED-PAYLOAD (for https: the signature does not cover the scheme, the fake speaks plain http)', async () => {
    const parts = [Buffer.from('streamed '), Buffer.from('by '), Buffer.from('tessera')];
    const length = parts.reduce((sum, part) => sum + part.length, 0);
    const path = `${keyPath('streamed.txt')}?x-id=PutObject`;
    const signed = await signAwsSigv4(
      { method: 'PUT', scheme: 'https', host: '127.0.0.1', port: fake.port, path, headers: { 'content-length': String(length) }, body: STREAMED_BODY },
      temporaryCredential,
      s3Injection,
    );
    expect(signed['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
    const answer = await send('PUT', path, signed, Readable.from(parts));
    expect(answer.status).toBe(200);
    expect(fake.requests[0]).toMatchObject({ verified: true });
    expect(fake.objects.get(`${BUCKET}/streamed.txt`)?.toString()).toBe('streamed by tessera');
  });

  it('is refused when the signing time is more than 15 minutes off', async () => {
    const answer = await sendSigned('GET', keyPath('k'), {}, undefined, { now: new Date(Date.now() - 20 * 60_000) });
    expect(answer.status).toBe(403);
    expect(answer.body.toString()).toContain('<Code>RequestTimeTooSkewed</Code>');
  });

  it('is refused when signed with the wrong secret, and the error shows neither secret nor token', async () => {
    const wrong: EdgeCredential = { kind: 'aws', ...TEMPORARY, secretAccessKey: 'not-the-secret' };
    const answer = await sendSigned('GET', keyPath('k'), {}, undefined, { credential: wrong });
    const xml = answer.body.toString();
    expect(answer.status).toBe(403);
    expect(xml).toContain('<Code>SignatureDoesNotMatch</Code>');
    expect(xml).toContain('x-amz-security-token:&lt;redacted&gt;');
    for (const text of [xml, fake.requests[0]!.error ?? '']) {
      expect(text).not.toContain(TEMPORARY.secretAccessKey);
      expect(text).not.toContain(TEMPORARY.sessionToken);
    }
  });

  describe('re-signing what the S3 client signed with placeholder keys', () => {
    /** Hop-by-hop headers end at the proxy; the fake gets its own framing. */
    const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect']);
    let proxy: { url: string; seen: IncomingHttpHeaders[]; close(): Promise<void> };

    beforeAll(async () => {
      const seen: IncomingHttpHeaders[] = [];
      // Captures each request as the application sent it, re-signs it for the temporary
      // credential with signAwsSigv4 and forwards it, body streamed, to the fake.
      const server = createServer((req, res) => {
        seen.push(req.headers);
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(req.headers)) {
          if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = Array.isArray(value) ? value.join(', ') : value;
        }
        const target = { method: req.method ?? 'GET', scheme: 'http', host: '127.0.0.1', port: fake.port, path: req.url ?? '/', headers, body: STREAMED_BODY } as const;
        signAwsSigv4(target, temporaryCredential, s3Injection)
          .then((signed) => {
            const upstream = httpRequest({ host: '127.0.0.1', port: fake.port, method: target.method, path: target.path, headers: signed }, (answer) => {
              res.writeHead(answer.statusCode ?? 502, answer.headers);
              answer.pipe(res);
            });
            upstream.on('error', () => res.destroy());
            req.pipe(upstream);
          })
          .catch(() => res.writeHead(502).end());
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      proxy = {
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        seen,
        close: () =>
          new Promise((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      };
    });
    afterAll(() => proxy.close());
    beforeEach(() => {
      proxy.seen.length = 0;
    });

    it('the placeholder signature alone is refused', async () => {
      const client = s3(PLACEHOLDER);
      expect(await failure(client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'k' })))).toMatchObject({ name: 'InvalidAccessKeyId' });
    });

    it('passes for Put (Buffer and stream), Get, Head, List and Delete', async () => {
      const client = s3(PLACEHOLDER, { endpoint: proxy.url });
      const body = Buffer.from('re-signed with the temporary credential');
      await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ContentType: 'text/plain' }));
      const streamed = Buffer.alloc(100_000, 's');
      await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'streamed.bin', Body: Readable.from([streamed]), ContentLength: streamed.length }));
      const got = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
      expect(Buffer.from(await got.Body!.transformToByteArray())).toEqual(body);
      expect((await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'streamed.bin' }))).ContentLength).toBe(streamed.length);
      expect((await client.send(new ListObjectsV2Command({ Bucket: BUCKET }))).Contents?.map((object) => object.Key)).toEqual(['streamed.bin', key]);
      await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'streamed.bin' }));
      expect(fake.objects.get(`${BUCKET}/streamed.bin`)).toBeUndefined();

      // The application signed with the placeholder; the fake saw only the temporary credential.
      expect(proxy.seen).toHaveLength(6);
      for (const headers of proxy.seen) expect(headers.authorization).toContain('Credential=placeholder/');
      expect(fake.requests).toHaveLength(6);
      for (const request of fake.requests) {
        expect(request).toMatchObject({ verified: true, headers: { 'x-amz-security-token': TEMPORARY.sessionToken } });
        expect(request.headers.authorization).toContain(`Credential=${TEMPORARY.accessKeyId}/`);
      }
      // The client's own payload hashes were kept: the streamed upload's unsigned trailer too.
      expect(fake.requests[1]!.headers['x-amz-content-sha256']).toBe('STREAMING-UNSIGNED-PAYLOAD-TRAILER');
    });
  });
});
