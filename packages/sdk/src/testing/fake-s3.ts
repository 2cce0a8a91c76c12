/**
 * A loopback S3 for tests that verifies AWS Signature Version 4 for real. Test support only:
 * never imported by product code and not part of the build entry.
 *
 * The verification is written here from the AWS specification with node:crypto, independently
 * of the SDK's signer (sigv4.ts builds on @smithy/signature-v4), so a bug in how the signer is
 * driven cannot be mirrored by the check that is meant to catch it.
 *
 * S3 where it matters for tests: path-style `PUT`/`GET`/`HEAD`/`DELETE /bucket/key` and
 * `GET /bucket?list-type=2`; buckets exist implicitly. Payload hashes, `aws-chunked` bodies with
 * unsigned trailers, `x-amz-checksum-*` (CRC32, SHA-1, SHA-256) and Content-MD5 are checked.
 * Presigned URLs, multipart uploads and the other sub-resources answer 501 NotImplemented.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { crc32 } from 'node:zlib';

export interface FakeS3Credential {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

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

const ALGORITHM = 'AWS4-HMAC-SHA256';
const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
/** Sub-resources that would change what a request means; the fake does not implement them. */
const SUBRESOURCES = new Set(['acl', 'attributes', 'cors', 'legal-hold', 'lifecycle', 'partNumber', 'policy', 'restore', 'retention', 'select', 'tagging', 'torrent', 'uploadId', 'uploads', 'versioning']);

/**
 * An S3 error response. Messages name headers and parameters, never their secret values.
 * Plain fields, no parameter properties: end-to-end test processes load this file with Node's
 * own type stripping.
 */
class S3Error extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, string>;

  constructor(status: number, code: string, message: string, details: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export async function startFakeS3(options: FakeS3Options): Promise<FakeS3> {
  const region = options.region ?? 'us-east-1';
  const credentials = new Map(options.credentials.map((credential) => [credential.accessKeyId, credential]));
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
      const s3Error = error instanceof S3Error ? error : new S3Error(500, 'InternalError', 'We encountered an internal error. Please try again.');
      // A fault of the fake itself is recorded with its own message, to debug the test.
      record.error = error instanceof S3Error ? `${error.code}: ${error.message}` : `InternalError: ${String(error)}`;
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
function verify(req: IncomingMessage, body: Buffer, credentials: Map<string, FakeS3Credential>, region: string): Buffer {
  const { rawPath, query } = splitTarget(req.url ?? '/');
  const authorization = req.headers.authorization;
  if (authorization === undefined) {
    if (query.some(([name]) => name === 'X-Amz-Signature')) throw new S3Error(501, 'NotImplemented', 'presigned URLs are not implemented by the fake S3');
    throw new S3Error(403, 'AccessDenied', 'Access Denied');
  }
  const auth = parseAuthorization(authorization);
  const [accessKeyId = '', scopeDate, scopeRegion, scopeService, terminator] = auth.credential.split('/');
  const credential = credentials.get(accessKeyId);
  if (!credential) {
    throw new S3Error(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', { AWSAccessKeyId: accessKeyId });
  }

  const amzDate = single(req, 'x-amz-date');
  if (amzDate === undefined || !/^\d{8}T\d{6}Z$/.test(amzDate)) {
    throw new S3Error(403, 'AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
  }
  const signedAt = Date.parse(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13)}`);
  if (Number.isNaN(signedAt) || Math.abs(Date.now() - signedAt) > MAX_CLOCK_SKEW_MS) {
    throw new S3Error(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.', { RequestTime: amzDate });
  }
  if (scopeDate !== amzDate.slice(0, 8)) {
    throw new S3Error(400, 'AuthorizationHeaderMalformed', 'Invalid credential date. Date is not the same as X-Amz-Date.');
  }
  if (scopeRegion !== region) {
    throw new S3Error(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; the region '${scopeRegion ?? ''}' is wrong; expecting '${region}'`, { Region: region });
  }
  if (scopeService !== 's3' || terminator !== 'aws4_request') {
    throw new S3Error(400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed; the credential scope must end in s3/aws4_request.');
  }

  const signedHeaders = auth.signedHeaders.split(';');
  const sorted = [...signedHeaders].sort();
  if (signedHeaders.some((name, i) => name !== name.toLowerCase() || name !== sorted[i] || name === sorted[i - 1])) {
    throw new S3Error(400, 'AuthorizationHeaderMalformed', 'SignedHeaders must be lower-case, sorted and without duplicates.');
  }
  if (!signedHeaders.includes('host') || !signedHeaders.includes('x-amz-date')) {
    throw new S3Error(403, 'AccessDenied', 'host and x-amz-date must be among the signed headers.');
  }
  const unsigned = Object.keys(req.headers).filter((name) => name.startsWith('x-amz-') && !signedHeaders.includes(name));
  if (unsigned.length > 0) {
    throw new S3Error(403, 'AccessDenied', `There were headers present in the request which were not signed: ${unsigned.join(', ')}`);
  }

  const token = single(req, 'x-amz-security-token');
  const tokenMatches = credential.sessionToken === undefined ? token === undefined : token !== undefined && safeEqual(token, credential.sessionToken);
  if (!tokenMatches) {
    throw new S3Error(403, 'InvalidToken', 'The provided token is malformed or otherwise invalid.');
  }

  const payloadHash = single(req, 'x-amz-content-sha256');
  if (payloadHash === undefined) throw new S3Error(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
  const hexHash = /^[0-9a-f]{64}$/.test(payloadHash);
  if (!hexHash && payloadHash !== UNSIGNED_PAYLOAD && payloadHash !== STREAMING_UNSIGNED_TRAILER) {
    if (payloadHash.startsWith('STREAMING-')) throw new S3Error(501, 'NotImplemented', `${payloadHash} is not implemented by the fake S3`);
    throw new S3Error(400, 'InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, or a valid sha256 value.');
  }

  const canonicalRequest = [
    req.method ?? '',
    // S3 signs the path as sent: no normalisation, no second encoding.
    rawPath === '' ? '/' : rawPath,
    canonicalQuery(query),
    ...signedHeaders.map((name) => `${name}:${canonicalHeaderValue(req, name)}`),
    '',
    auth.signedHeaders,
    payloadHash,
  ].join('\n');
  const scope = `${scopeDate}/${scopeRegion}/${scopeService}/${terminator}`;
  const stringToSign = [ALGORITHM, amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const signingKey = [scopeDate, scopeRegion, scopeService, terminator].reduce<Buffer>(
    (key, part) => hmac(key, part),
    Buffer.from(`AWS4${credential.secretAccessKey}`, 'utf8'),
  );
  const expected = hmac(signingKey, stringToSign);
  if (!timingSafeEqual(expected, Buffer.from(auth.signature, 'hex'))) {
    throw new S3Error(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.', {
      AWSAccessKeyId: accessKeyId,
      StringToSign: stringToSign,
      // The canonical request shows the session token; a debugging aid must not leak it.
      CanonicalRequest: canonicalRequest.replace(/^x-amz-security-token:.*$/m, 'x-amz-security-token:<redacted>'),
    });
  }

  if (hexHash && !safeEqual(sha256Hex(body), payloadHash)) {
    throw new S3Error(400, 'XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.");
  }
  if (payloadHash !== STREAMING_UNSIGNED_TRAILER) {
    checkChecksums(body, req.headers);
    return body;
  }
  return decodeUnsignedTrailerBody(req, body);
}

function parseAuthorization(header: string): { credential: string; signedHeaders: string; signature: string } {
  const malformed = new S3Error(400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed.');
  const spaceAt = header.indexOf(' ');
  if (spaceAt < 0 || header.slice(0, spaceAt) !== ALGORITHM) throw malformed;
  const fields = new Map<string, string>();
  for (const part of header.slice(spaceAt + 1).split(',')) {
    const equalsAt = part.indexOf('=');
    if (equalsAt < 0) throw malformed;
    fields.set(part.slice(0, equalsAt).trim(), part.slice(equalsAt + 1).trim());
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (!credential || !signedHeaders || !signature || credential.split('/').length !== 5 || !/^[0-9a-f]{64}$/.test(signature)) throw malformed;
  return { credential, signedHeaders, signature };
}

/**
 * SigV4's canonical query: names and values decoded as S3 reads them (`+` is a space), then
 * URI-encoded the AWS way (everything but `A-Za-z0-9-._~`, upper-case hex) and sorted by name,
 * then value.
 */
function canonicalQuery(query: Array<[string, string]>): string {
  return query
    .map(([name, value]): [string, string] => [awsUriEncode(name), awsUriEncode(value)])
    .sort(([nameA, valueA], [nameB, valueB]) => compare(nameA, nameB) || compare(valueA, valueB))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

/** Values of a repeated header joined with `,`; spaces trimmed and runs of them collapsed. */
function canonicalHeaderValue(req: IncomingMessage, name: string): string {
  const values = req.headersDistinct[name];
  if (values === undefined) throw new S3Error(403, 'SignatureDoesNotMatch', `The signed header "${name}" is not on the request.`);
  return values.map((value) => value.replace(/[ \t]+/g, ' ').trim()).join(',');
}

function awsUriEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const char = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function splitTarget(target: string): { rawPath: string; query: Array<[string, string]> } {
  const questionAt = target.indexOf('?');
  if (questionAt < 0) return { rawPath: target, query: [] };
  const query: Array<[string, string]> = [];
  for (const part of target.slice(questionAt + 1).split('&')) {
    if (part === '') continue;
    const equalsAt = part.indexOf('=');
    query.push(equalsAt < 0 ? [formDecode(part), ''] : [formDecode(part.slice(0, equalsAt)), formDecode(part.slice(equalsAt + 1))]);
  }
  return { rawPath: target.slice(0, questionAt), query };
}

/** Query decoding: `+` is a space, `%XX` a byte, anything else itself. */
function formDecode(text: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (char === '+') bytes.push(0x20);
    else if (char === '%' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(...Buffer.from(char, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
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

function hmac(key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function crc32Base64(data: Buffer): string {
  const checksum = Buffer.alloc(4);
  checksum.writeUInt32BE(crc32(data));
  return checksum.toString('base64');
}

function etagOf(data: Buffer): string {
  return `"${createHash('md5').update(data).digest('hex')}"`;
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const XML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

function xml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => XML_ENTITIES[char]!);
}

function requestId(): string {
  return randomBytes(8).toString('hex').toUpperCase();
}
