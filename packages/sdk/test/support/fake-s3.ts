/**
 * A loopback S3 for tests that verifies AWS Signature Version 4 for real. Test support only:
 * never imported by product code and not part of the build entry.
 *
 * Signatures are checked by sigv4-verifier.ts, written from AWS's documentation with node:crypto,
 * independently of the SDK's signer (sigv4.ts builds on @smithy/signature-v4), so a bug in how
 * the signer is driven cannot be mirrored by the check that is meant to catch it.
 *
 * S3 where it matters for tests: path-style `PUT`/`GET`/`HEAD`/`DELETE /bucket/key` and
 * `GET /bucket?list-type=2`; buckets exist implicitly. Payload hashes, `aws-chunked` bodies with
 * unsigned trailers, `x-amz-checksum-*` (CRC32, SHA-1, SHA-256) and Content-MD5 are checked.
 * Presigned URLs, multipart uploads and the other sub-resources answer 501 NotImplemented.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { crc32 } from 'node:zlib';
import { percentDecode, SigV4Error, STREAMING_UNSIGNED_TRAILER, verifySigV4, type SigV4Credential } from './sigv4-verifier.ts';

export type FakeS3Credential = SigV4Credential;

export interface FakeS3Options {
  credentials: FakeS3Credential[];
  /** Default 'us-east-1'. */
  region?: string;
}

export interface FakeS3Request {
  method: string;
  /** The request-target as received: path plus query. */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** The signature (and session token, date and payload hash) checked out. */
  verified: boolean;
  /** Why the request was refused, as `Code: message`; never a key, token or signature. */
  error?: string;
}

export interface FakeS3 {
  /** `http://127.0.0.1:port`, for `endpoint` with `forcePathStyle: true`. */
  url: string;
  port: number;
  /** Object bytes by `bucket/key` (the key decoded). Tests may read and seed it. */
  objects: Map<string, Buffer>;
  requests: FakeS3Request[];
  close(): Promise<void>;
}

/** Sub-resources that would change what a request means; the fake does not implement them. */
const SUBRESOURCES = new Set(['acl', 'attributes', 'cors', 'legal-hold', 'lifecycle', 'partNumber', 'policy', 'restore', 'retention', 'select', 'tagging', 'torrent', 'uploadId', 'uploads', 'versioning']);

/** An S3 error response: the verifier's refusals have the same shape. Messages name headers and parameters, never their secret values. */
class S3Error extends SigV4Error {}

export async function startFakeS3(options: FakeS3Options): Promise<FakeS3> {
  const region = options.region ?? 'us-east-1';
  const credentials = options.credentials;
  const objects = new Map<string, Buffer>();
  const modified = new Map<string, Date>();
  const requests: FakeS3Request[] = [];
  const startedAt = new Date();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const record: FakeS3Request = { method: req.method ?? '', path: req.url ?? '', headers: { ...req.headers }, verified: false };
    requests.push(record);
    try {
      const payload = verify(req, body, credentials, region);
      record.verified = true;
      route(req, res, payload);
    } catch (error) {
      const s3Error = error instanceof SigV4Error ? error : new S3Error(500, 'InternalError', 'We encountered an internal error. Please try again.');
      // A fault of the fake itself is recorded with its own message, to debug the test.
      record.error = error instanceof SigV4Error ? `${error.code}: ${error.message}` : `InternalError: ${String(error)}`;
      sendError(req, res, s3Error);
    }
  }

  function route(req: IncomingMessage, res: ServerResponse, payload: Buffer): void {
    const { rawPath, query } = splitTarget(req.url ?? '/');
    const slashAt = rawPath.indexOf('/', 1);
    const bucket = decodePath(slashAt < 0 ? rawPath.slice(1) : rawPath.slice(1, slashAt));
    const key = slashAt < 0 ? '' : decodePath(rawPath.slice(slashAt + 1));
    if (bucket === '') throw new S3Error(501, 'NotImplemented', 'ListBuckets is not implemented by the fake S3');
    for (const [name] of query) {
      if (SUBRESOURCES.has(name)) throw new S3Error(501, 'NotImplemented', `the "${name}" sub-resource is not implemented by the fake S3`);
    }
    if (key === '') return bucketOperation(req, res, bucket, query);

    const id = `${bucket}/${key}`;
    switch (req.method) {
      case 'PUT': {
        if (req.headers['x-amz-copy-source'] !== undefined) throw new S3Error(501, 'NotImplemented', 'CopyObject is not implemented by the fake S3');
        objects.set(id, payload);
        modified.set(id, new Date());
        res.writeHead(200, { etag: etagOf(payload), 'x-amz-request-id': requestId() }).end();
        return;
      }
      case 'GET':
      case 'HEAD': {
        const object = objects.get(id);
        if (!object) throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.', { Key: key });
        const headers: Record<string, string | number> = {
          'content-type': 'application/octet-stream',
          'content-length': object.length,
          etag: etagOf(object),
          'last-modified': (modified.get(id) ?? startedAt).toUTCString(),
          'x-amz-request-id': requestId(),
        };
        // What S3 returns for objects uploaded with a CRC32; the SDK validates it when present.
        if (req.headers['x-amz-checksum-mode'] === 'ENABLED') headers['x-amz-checksum-crc32'] = crc32Base64(object);
        res.writeHead(200, headers).end(req.method === 'GET' ? object : undefined);
        return;
      }
      case 'DELETE':
        objects.delete(id);
        modified.delete(id);
        res.writeHead(204, { 'x-amz-request-id': requestId() }).end();
        return;
      default:
        throw new S3Error(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.');
    }
  }

  function bucketOperation(req: IncomingMessage, res: ServerResponse, bucket: string, query: Array<[string, string]>): void {
    if (req.method === 'PUT' || req.method === 'HEAD') {
      res.writeHead(200, { 'x-amz-request-id': requestId() }).end();
      return;
    }
    if (req.method !== 'GET') throw new S3Error(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.');
    const parameter = (name: string): string | undefined => query.find(([candidate]) => candidate === name)?.[1];
    const prefix = parameter('prefix') ?? '';
    const urlEncoded = parameter('encoding-type') === 'url';
    const show = (text: string): string => xml(urlEncoded ? encodeURIComponent(text) : text);
    const keys = [...objects.keys()]
      .filter((id) => id.startsWith(`${bucket}/${prefix}`))
      .map((id) => id.slice(bucket.length + 1))
      .sort();
    const contents = keys.map((key) => {
      const object = objects.get(`${bucket}/${key}`)!;
      const lastModified = (modified.get(`${bucket}/${key}`) ?? startedAt).toISOString();
      return `<Contents><Key>${show(key)}</Key><LastModified>${lastModified}</LastModified><ETag>${xml(etagOf(object))}</ETag><Size>${object.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`;
    });
    const body =
      '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      `<Name>${xml(bucket)}</Name><Prefix>${show(prefix)}</Prefix>` +
      (parameter('list-type') === '2' ? `<KeyCount>${keys.length}</KeyCount>` : '') +
      `<MaxKeys>1000</MaxKeys>${urlEncoded ? '<EncodingType>url</EncodingType>' : ''}<IsTruncated>false</IsTruncated>${contents.join('')}</ListBucketResult>`;
    res.writeHead(200, { 'content-type': 'application/xml', 'x-amz-request-id': requestId() }).end(body);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    objects,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // SDK clients keep connections alive; close() would wait for them.
        server.closeAllConnections();
      }),
  };
}

/**
 * Check the request's SigV4 signature, session token, date and payload, and return the object
 * bytes the body carries (decoded from aws-chunked when it is so encoded).
 */
function verify(req: IncomingMessage, body: Buffer, credentials: SigV4Credential[], region: string): Buffer {
  const { query } = splitTarget(req.url ?? '/');
  if (req.headers.authorization === undefined && query.some(([name]) => name === 'X-Amz-Signature')) {
    throw new S3Error(501, 'NotImplemented', 'presigned URLs are not implemented by the fake S3');
  }
  const headers: Record<string, string | string[] | undefined> = {};
  for (const [name, values] of Object.entries(req.headersDistinct)) headers[name] = values?.length === 1 ? values[0] : values;
  const { payloadHash } = verifySigV4({ method: req.method ?? '', target: req.url ?? '/', headers, body }, credentials, { region, service: 's3' });
  if (payloadHash !== STREAMING_UNSIGNED_TRAILER) {
    checkChecksums(body, req.headers);
    return body;
  }
  return decodeUnsignedTrailerBody(req, body);
}

function splitTarget(target: string): { rawPath: string; query: Array<[string, string]> } {
  const questionAt = target.indexOf('?');
  if (questionAt < 0) return { rawPath: target, query: [] };
  const query: Array<[string, string]> = [];
  for (const part of target.slice(questionAt + 1).split('&')) {
    if (part === '') continue;
    const equalsAt = part.indexOf('=');
    const [name, value] = equalsAt < 0 ? [part, ''] : [part.slice(0, equalsAt), part.slice(equalsAt + 1)];
    query.push([percentDecode(name, true).toString('utf8'), percentDecode(value, true).toString('utf8')]);
  }
  return { rawPath: target.slice(0, questionAt), query };
}

/** Path decoding: `%XX` only; a `+` in a key is a plus. */
function decodePath(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new S3Error(400, 'InvalidURI', "Couldn't parse the specified URI.");
  }
}

/**
 * `Content-Encoding: aws-chunked` with `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: hex size lines,
 * each chunk followed by CRLF, a zero-size chunk, then trailer lines (`x-amz-checksum-crc32:...`)
 * and an empty line. The trailers declared in `x-amz-trailer` carry the checksum to verify.
 */
function decodeUnsignedTrailerBody(req: IncomingMessage, body: Buffer): Buffer {
  const encodings = (single(req, 'content-encoding') ?? '').split(',').map((encoding) => encoding.trim());
  if (!encodings.includes('aws-chunked')) {
    throw new S3Error(400, 'InvalidArgument', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER requires Content-Encoding: aws-chunked.');
  }
  const malformed = new S3Error(400, 'IncompleteBody', 'The request body is not valid aws-chunked encoding.');
  const chunks: Buffer[] = [];
  let at = 0;
  const readLine = (): string => {
    const end = body.indexOf('\r\n', at);
    if (end < 0) throw malformed;
    const line = body.toString('latin1', at, end);
    at = end + 2;
    return line;
  };
  for (;;) {
    const size = readLine().split(';')[0]!.trim();
    if (!/^[0-9a-fA-F]+$/.test(size)) throw malformed;
    const length = Number.parseInt(size, 16);
    if (length === 0) break;
    if (at + length + 2 > body.length || body.toString('latin1', at + length, at + length + 2) !== '\r\n') throw malformed;
    chunks.push(body.subarray(at, at + length));
    at += length + 2;
  }
  const trailers: Record<string, string> = {};
  for (let line = readLine(); line !== ''; line = readLine()) {
    const colonAt = line.indexOf(':');
    if (colonAt <= 0) throw malformed;
    trailers[line.slice(0, colonAt).trim().toLowerCase()] = line.slice(colonAt + 1).trim();
  }
  if (at !== body.length) throw malformed;

  const data = Buffer.concat(chunks);
  const declaredLength = single(req, 'x-amz-decoded-content-length');
  if (declaredLength === undefined || Number(declaredLength) !== data.length) {
    throw new S3Error(400, 'IncompleteBody', 'The decoded body does not have the length given in x-amz-decoded-content-length.');
  }
  const declared = (single(req, 'x-amz-trailer') ?? '').split(',').map((name) => name.trim().toLowerCase()).filter(Boolean).sort();
  if (declared.join(',') !== Object.keys(trailers).sort().join(',')) {
    throw new S3Error(400, 'MalformedTrailerError', 'The request contained trailing data that was not declared in x-amz-trailer.');
  }
  checkChecksums(data, req.headers);
  checkChecksums(data, trailers);
  return data;
}

/** `x-amz-checksum-*` and Content-MD5 against the object bytes, as S3 does on upload. */
function checkChecksums(data: Buffer, fields: Record<string, string | string[] | undefined>): void {
  for (const [name, value] of Object.entries(fields)) {
    if (typeof value !== 'string') continue;
    let actual: string;
    if (name === 'content-md5') actual = createHash('md5').update(data).digest('base64');
    else if (name === 'x-amz-checksum-crc32') actual = crc32Base64(data);
    else if (name === 'x-amz-checksum-sha1') actual = createHash('sha1').update(data).digest('base64');
    else if (name === 'x-amz-checksum-sha256') actual = createHash('sha256').update(data).digest('base64');
    else if (name.startsWith('x-amz-checksum-') && name !== 'x-amz-checksum-algorithm' && name !== 'x-amz-checksum-type' && name !== 'x-amz-checksum-mode') {
      throw new S3Error(501, 'NotImplemented', `${name} is not implemented by the fake S3`);
    } else continue;
    if (actual !== value) {
      const what = name === 'content-md5' ? 'Content-MD5' : name.slice('x-amz-checksum-'.length).toUpperCase();
      throw new S3Error(400, 'BadDigest', `The ${what} you specified did not match the calculated checksum.`);
    }
  }
}

function sendError(req: IncomingMessage, res: ServerResponse, error: S3Error): void {
  const id = requestId();
  const details = Object.entries(error.details).map(([name, value]) => `<${name}>${xml(value)}</${name}>`);
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${error.code}</Code><Message>${xml(error.message)}</Message>${details.join('')}<RequestId>${id}</RequestId></Error>`;
  // HEAD answers carry no body; S3 clients read the status alone.
  res.writeHead(error.status, { 'content-type': 'application/xml', 'x-amz-request-id': id, 'content-length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function single(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

function crc32Base64(data: Buffer): string {
  const checksum = Buffer.alloc(4);
  checksum.writeUInt32BE(crc32(data));
  return checksum.toString('base64');
}

function etagOf(data: Buffer): string {
  return `"${createHash('md5').update(data).digest('hex')}"`;
}

const XML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

function xml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => XML_ENTITIES[char]!);
}

function requestId(): string {
  return randomBytes(8).toString('hex').toUpperCase();
}
