/**
 * An AWS Signature Version 4 verifier for tests, written from AWS's documentation ("Create a
 * canonical request", "Signature Calculations for the Authorization Header" of the S3 API
 * reference) with node:crypto only. Test support: never imported by product code.
 *
 * It shares no code with the SDK's signer (sigv4.ts, over @smithy/signature-v4) and works on the
 * request as a server receives it — the request-target and the headers off the wire — so a
 * mistake in how the signer reads or encodes a request cannot be mirrored here.
 *
 * - Canonical URI: S3 decodes the path into its object key and URI-encodes that once, every
 *   byte but `A-Za-z0-9-._~` and `/`, without normalising (`/test$file` → `/test%24file`);
 *   other services remove dot segments and empty segments (RFC 3986, the test suite's
 *   normalize-path cases) and URI-encode each segment of the path as received, so an escape
 *   already in it is encoded a second time (`%20` → `%2520`).
 * - Canonical query: each name and value decoded (`+` is a space) and URI-encoded, sorted by
 *   name, then by value.
 * - Canonical headers: the signed ones, values trimmed, runs of spaces collapsed, repeated
 *   headers joined with `,`.
 * - Payload hash: S3 takes `x-amz-content-sha256` (a hex SHA-256 of the body, or an unsigned
 *   payload); every other service hashes the body it received.
 *
 * Plain fields, no parameter properties and `.ts` imports only: end-to-end test processes load
 * this file (through fake-s3.ts) with Node's own type stripping.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
export const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;

export interface SigV4Credential {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** A request as a server received it. */
export interface ReceivedSigV4Request {
  method: string;
  /** The request-target exactly as on the request line (Node's `req.url`: one char per byte). */
  target: string;
  /** Lower-case names; a repeated header as an array of its values, in order. */
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface SigV4Scope {
  region: string;
  service: string;
}

export interface VerifiedSigV4 {
  accessKeyId: string;
  /** What the signature covers for the body: a hex SHA-256, or an unsigned-payload marker. */
  payloadHash: string;
  /** The body's hash is signed (not UNSIGNED-PAYLOAD or a streaming marker). */
  payloadSigned: boolean;
  canonicalRequest: string;
}

/** A refusal, with the code and status AWS answers; the message names no secret. */
export class SigV4Error extends Error {
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

/** AWS's UriEncode over bytes: unreserved characters stay, `/` too when `keepSlash`, the rest is `%XX`. */
export function uriEncode(bytes: Uint8Array, keepSlash = false): string {
  let out = '';
  for (const byte of bytes) {
    const char = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(char) || (keepSlash && char === '/') ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** `%XX` as its byte, anything else as itself (one char per byte); `+` as a space when `plusIsSpace`. */
export function percentDecode(text: string, plusIsSpace: boolean): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (char === '+' && plusIsSpace) bytes.push(0x20);
    else if (char === '%' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(text.charCodeAt(i) & 0xff);
  }
  return Buffer.from(bytes);
}

export function splitTarget(target: string): { path: string; query: string } {
  const questionAt = target.indexOf('?');
  return questionAt < 0 ? { path: target, query: '' } : { path: target.slice(0, questionAt), query: target.slice(questionAt + 1) };
}

export function canonicalUri(path: string, service: string): string {
  if (path === '') return '/';
  if (service === 's3') return uriEncode(percentDecode(path, false), true);
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  // RFC 3986: a path ending in a dot segment or a slash names a directory.
  const trailing = segments.length > 0 && /(^|\/)(\.\.?)?$/.test(path) ? '/' : '';
  return `/${segments.map((segment) => uriEncode(Buffer.from(segment, 'latin1'))).join('/')}${trailing}`;
}

export function canonicalQuery(query: string): string {
  const pairs: Array<[string, string]> = [];
  for (const part of query.split('&')) {
    if (part === '') continue;
    const equalsAt = part.indexOf('=');
    const name = equalsAt < 0 ? part : part.slice(0, equalsAt);
    const value = equalsAt < 0 ? '' : part.slice(equalsAt + 1);
    pairs.push([uriEncode(percentDecode(name, true)), uriEncode(percentDecode(value, true))]);
  }
  pairs.sort(([nameA, valueA], [nameB, valueB]) => compare(nameA, nameB) || compare(valueA, valueB));
  return pairs.map(([name, value]) => `${name}=${value}`).join('&');
}

export function canonicalHeaderValue(values: string | string[]): string {
  return (Array.isArray(values) ? values : [values]).map((value) => value.replace(/[ \t]+/g, ' ').trim()).join(',');
}

/** The canonical request for `signedHeaders` (lower case, sorted, `;`-separated) and a payload hash. */
export function canonicalRequest(request: ReceivedSigV4Request, service: string, signedHeaders: string, payloadHash: string): string {
  const { path, query } = splitTarget(request.target);
  const headerLines = signedHeaders.split(';').map((name) => {
    const values = request.headers[name];
    if (values === undefined) throw new SigV4Error(403, 'SignatureDoesNotMatch', `The signed header "${name}" is not on the request.`);
    return `${name}:${canonicalHeaderValue(values)}`;
  });
  return [request.method, canonicalUri(path, service), canonicalQuery(query), ...headerLines, '', signedHeaders, payloadHash].join('\n');
}

/** The hex signature of a canonical request, for `date` (YYYYMMDD), `amzDate` and a scope. */
export function signCanonicalRequest(canonical: string, secretAccessKey: string, amzDate: string, scope: SigV4Scope): string {
  const date = amzDate.slice(0, 8);
  const credentialScope = `${date}/${scope.region}/${scope.service}/aws4_request`;
  const stringToSign = [SIGV4_ALGORITHM, amzDate, credentialScope, sha256Hex(canonical)].join('\n');
  let key: Buffer = Buffer.from(`AWS4${secretAccessKey}`, 'utf8');
  for (const part of [date, scope.region, scope.service, 'aws4_request']) key = hmac(key, part);
  return hmac(key, stringToSign).toString('hex');
}

/**
 * Check the request's signature, session token, date and payload hash as AWS would for
 * `scope`; throws SigV4Error. `now` is the server's clock.
 */
export function verifySigV4(request: ReceivedSigV4Request, credentials: SigV4Credential[], scope: SigV4Scope, now: Date = new Date()): VerifiedSigV4 {
  const authorization = single(request, 'authorization');
  if (authorization === undefined) throw new SigV4Error(403, 'AccessDenied', 'Access Denied');
  const auth = parseAuthorization(authorization);
  const [accessKeyId = '', scopeDate, scopeRegion, scopeService, terminator] = auth.credential.split('/');
  const credential = credentials.find((candidate) => candidate.accessKeyId === accessKeyId);
  if (!credential) {
    throw new SigV4Error(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', { AWSAccessKeyId: accessKeyId });
  }

  const amzDate = single(request, 'x-amz-date');
  if (amzDate === undefined || !/^\d{8}T\d{6}Z$/.test(amzDate)) throw new SigV4Error(403, 'AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
  const signedAt = Date.parse(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13)}`);
  if (Number.isNaN(signedAt) || Math.abs(now.getTime() - signedAt) > MAX_CLOCK_SKEW_MS) {
    throw new SigV4Error(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.', { RequestTime: amzDate });
  }
  if (scopeDate !== amzDate.slice(0, 8)) throw new SigV4Error(400, 'AuthorizationHeaderMalformed', 'Invalid credential date. Date is not the same as X-Amz-Date.');
  if (scopeRegion !== scope.region) {
    throw new SigV4Error(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; the region '${scopeRegion ?? ''}' is wrong; expecting '${scope.region}'`, { Region: scope.region });
  }
  if (scopeService !== scope.service || terminator !== 'aws4_request') {
    throw new SigV4Error(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; the credential scope must end in ${scope.service}/aws4_request.`);
  }

  const signedHeaders = auth.signedHeaders.split(';');
  const sorted = [...signedHeaders].sort(compare);
  if (signedHeaders.some((name, i) => name !== name.toLowerCase() || name !== sorted[i] || name === sorted[i - 1])) {
    throw new SigV4Error(400, 'AuthorizationHeaderMalformed', 'SignedHeaders must be lower-case, sorted and without duplicates.');
  }
  if (!signedHeaders.includes('host') || !signedHeaders.includes('x-amz-date')) throw new SigV4Error(403, 'AccessDenied', 'host and x-amz-date must be among the signed headers.');
  const unsigned = Object.keys(request.headers).filter((name) => name.startsWith('x-amz-') && !signedHeaders.includes(name));
  if (unsigned.length > 0) throw new SigV4Error(403, 'AccessDenied', `There were headers present in the request which were not signed: ${unsigned.join(', ')}`);

  const token = single(request, 'x-amz-security-token');
  const tokenMatches = credential.sessionToken === undefined ? token === undefined : token !== undefined && safeEqual(token, credential.sessionToken);
  if (!tokenMatches) throw new SigV4Error(403, 'InvalidToken', 'The provided token is malformed or otherwise invalid.');

  const payloadHash = payloadHashOf(request, scope.service);
  const canonical = canonicalRequest(request, scope.service, auth.signedHeaders, payloadHash);
  const expected = Buffer.from(signCanonicalRequest(canonical, credential.secretAccessKey, amzDate, scope), 'hex');
  if (!timingSafeEqual(expected, Buffer.from(auth.signature, 'hex'))) {
    throw new SigV4Error(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.', {
      AWSAccessKeyId: accessKeyId,
      // The canonical request shows the session token; a debugging aid must not leak it.
      CanonicalRequest: canonical.replace(/^x-amz-security-token:.*$/m, 'x-amz-security-token:<redacted>'),
    });
  }
  const payloadSigned = /^[0-9a-f]{64}$/.test(payloadHash);
  if (payloadSigned && !safeEqual(sha256Hex(request.body), payloadHash)) {
    throw new SigV4Error(400, 'XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.");
  }
  return { accessKeyId, payloadHash, payloadSigned, canonicalRequest: canonical };
}

/** S3: the x-amz-content-sha256 header (required); other services: the hash of the body received. */
function payloadHashOf(request: ReceivedSigV4Request, service: string): string {
  if (service !== 's3') return sha256Hex(request.body);
  const declared = single(request, 'x-amz-content-sha256');
  if (declared === undefined) throw new SigV4Error(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
  if (/^[0-9a-f]{64}$/.test(declared) || declared === UNSIGNED_PAYLOAD || declared === STREAMING_UNSIGNED_TRAILER) return declared;
  if (declared.startsWith('STREAMING-')) throw new SigV4Error(501, 'NotImplemented', `${declared} is not implemented by this verifier`);
  throw new SigV4Error(400, 'InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, or a valid sha256 value.');
}

function parseAuthorization(header: string): { credential: string; signedHeaders: string; signature: string } {
  const malformed = new SigV4Error(400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed.');
  const spaceAt = header.indexOf(' ');
  if (spaceAt < 0 || header.slice(0, spaceAt) !== SIGV4_ALGORITHM) throw malformed;
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

function single(request: ReceivedSigV4Request, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}

/** Byte order (the strings here are ASCII). */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
