import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { loadOptionalDependency } from '@tessera/providers/collect';
import { missingDependency } from '../errors.js';
import { InjectionError } from './injection-error.js';
import { canonicalPath } from './sigv4-path.js';
import type { EdgeCredential, Injection } from './types.js';

type SignatureV4Module = typeof import('@smithy/signature-v4');

/**
 * The AWS signer, loaded at the first aws-sigv4 injection: an optional dependency, which only
 * workloads calling AWS install (an application using the AWS SDK has it already). Without it,
 * such a request fails with a `missing_dependency` configuration error naming the npm install.
 */
async function loadSigner(): Promise<SignatureV4Module> {
  try {
    return await loadOptionalDependency<SignatureV4Module>('@smithy/signature-v4', { feature: 'aws-sigv4 injection', install: ['@smithy/signature-v4'] });
  } catch (error) {
    throw missingDependency(error) ?? error;
  }
}

/** Marks a body that will be streamed (not known in full when signing). */
// Symbol.for: a duplicate copy of the SDK in one process must recognise the same marker.
export const STREAMED_BODY: unique symbol = Symbol.for('tessera.sigv4.streamed-body');

export interface SigV4Request {
  method: string;
  scheme: 'http' | 'https';
  /** Host name or IP, IPv6 without brackets. */
  host: string;
  port: number;
  /** Path plus query exactly as on the request line, e.g. `/bucket/key?x-id=PutObject`. */
  path: string;
  /** Lower-case header names; multiple values already joined with ', '. */
  headers: Record<string, string>;
  body: string | Uint8Array | undefined | typeof STREAMED_BODY;
}

const PAYLOAD_HASH = 'x-amz-content-sha256';
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
/** The one streaming mode whose body carries no signature of its own (the AWS SDK's default for streams). */
const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';

/**
 * Headers the signer sets itself. The application's values may come from a signature with
 * placeholder keys (or name another host), and a leftover would be signed or sent beside ours.
 */
const REPLACED_HEADERS = new Set(['authorization', 'x-amz-date', 'x-amz-security-token', 'host']);

/**
 * Sign a request with AWS Signature Version 4 for the credential's temporary keys, replacing
 * any signature the application made. Returns the COMPLETE header set to send (lower-case
 * names), including `host`, `x-amz-date`, `authorization`, `x-amz-security-token` when the
 * credential has a session token, and `x-amz-content-sha256` (always for S3; for other
 * services only when the application sent it). The path is sent unchanged; the signature covers
 * its canonical form, as the service computes it from the path it receives (sigv4-path.ts).
 *
 * Payload hash: the application's `x-amz-content-sha256` is kept (S3 clients compute it, and
 * it may be `UNSIGNED-PAYLOAD` or `STREAMING-UNSIGNED-PAYLOAD-TRAILER`); otherwise a buffered
 * body is hashed, and a streamed one is sent as `UNSIGNED-PAYLOAD` to S3 over https — the only
 * service that accepts it, over the only transport that protects the body. Anything else with
 * a streamed body is refused (`body_not_signable`).
 */
export async function signAwsSigv4(
  request: SigV4Request,
  credential: EdgeCredential,
  injection: Extract<Injection, { kind: 'aws-sigv4' }>,
  now: Date = new Date(),
): Promise<Record<string, string>> {
  if (credential.kind !== 'aws') {
    throw new InjectionError('credential_kind_mismatch', 'aws-sigv4', `a ${credential.kind} credential cannot be placed by aws-sigv4 injection`);
  }
  const { region, service } = injection;
  // Both go into the credential scope `date/region/service/aws4_request` of the Authorization header.
  if (!isScopePart(region)) throw new InjectionError('invalid_injection', 'aws-sigv4', 'the region is empty or not usable in a credential scope');
  if (!isScopePart(service)) throw new InjectionError('invalid_injection', 'aws-sigv4', 'the service is empty or not usable in a credential scope');
  checkCredential(credential);

  const isS3 = service === 's3';
  const kept = Object.entries(request.headers)
    .map(([name, value]): [string, string] => [name.toLowerCase(), value])
    .filter(([name]) => !REPLACED_HEADERS.has(name));
  kept.push(['host', hostHeader(request)]);
  // fromEntries defines own properties: a `__proto__` header stays a header.
  const headers: Record<string, string> = Object.fromEntries(kept);

  const appHash = headers[PAYLOAD_HASH];
  let body: string | Uint8Array | undefined;
  if (appHash !== undefined) {
    // Signed chunks (STREAMING-AWS4-HMAC-SHA256-PAYLOAD ...) chain from the seed signature we are
    // replacing, so the chunk signatures already in the body would no longer verify.
    if (appHash.startsWith('STREAMING-') && appHash !== STREAMING_UNSIGNED_TRAILER) {
      throw new InjectionError('body_not_signable', 'aws-sigv4', 'a body with signed chunks (STREAMING-AWS4-...) cannot be re-signed');
    }
  } else if (request.body === STREAMED_BODY) {
    if (!acceptsUnsignedPayload(service, request.scheme)) {
      throw new InjectionError(
        'body_not_signable',
        'aws-sigv4',
        isS3
          ? 'a streamed body (or one over the signing limit) goes out UNSIGNED-PAYLOAD only over https: over plain http anyone on the path could replace it under a valid signature'
          : `a streamed body (or one over the signing limit) cannot be signed for service "${service}": only S3 accepts UNSIGNED-PAYLOAD`,
      );
    }
    headers[PAYLOAD_HASH] = UNSIGNED_PAYLOAD;
  } else {
    body = request.body;
  }

  const { pathname, query } = splitPath(request.path);
  const { SignatureV4 } = await loadSigner();
  const signer = new SignatureV4({
    service,
    region,
    credentials: {
      accessKeyId: credential.accessKeyId,
      secretAccessKey: credential.secretAccessKey,
      ...(credential.sessionToken ? { sessionToken: credential.sessionToken } : {}),
    },
    sha256: Sha256,
    // The canonical path is ours (canonicalPath): the signer is to sign it as given.
    uriEscapePath: false,
    // S3 requires x-amz-content-sha256, other services do not expect it.
    applyChecksum: isS3,
  });
  // A plain request object: the signer copies it into its own HttpRequest.
  const signed = await signer.sign(
    {
      method: request.method,
      protocol: `${request.scheme}:`,
      hostname: request.host,
      port: request.port,
      path: canonicalPath(pathname, service),
      query: parseQuery(query),
      headers,
      body,
    },
    { signingDate: now },
  );
  // The signer drops `date` (x-amz-date replaces it) but the application's other headers stay.
  return { ...headers, ...signed.headers };
}

/**
 * Where a body whose hash is not known before the headers leave may go out `UNSIGNED-PAYLOAD`:
 * to S3 (the only service that accepts it) over https (over plain http anyone on the path could
 * replace the body under a valid signature). The one rule the signer and the interceptors apply.
 */
export function acceptsUnsignedPayload(service: string, scheme: string): boolean {
  return service === 's3' && scheme === 'https';
}

/** `host`, or `host:port` off the scheme's default port; IPv6 literals in brackets. */
function hostHeader({ scheme, host, port }: SigV4Request): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const name = bare.includes(':') ? `[${bare}]` : bare;
  return port === (scheme === 'https' ? 443 : 80) ? name : `${name}:${port}`;
}

function splitPath(path: string): { pathname: string; query: string } {
  const hashAt = path.indexOf('#');
  const target = hashAt < 0 ? path : path.slice(0, hashAt);
  const questionAt = target.indexOf('?');
  return questionAt < 0 ? { pathname: target, query: '' } : { pathname: target.slice(0, questionAt), query: target.slice(questionAt + 1) };
}

/**
 * The query as SignatureV4 wants it: decoded names and values (it re-encodes them the AWS way
 * and sorts them), repeated names as arrays, `?acl` as an empty value. Decoding is the form
 * decoding AWS applies on its side, `+` included (S3 reads a raw `+` as a space, so the
 * canonical form must say `%20`).
 */
function parseQuery(query: string): Record<string, string | string[]> {
  const entries = new Map<string, string[]>();
  for (const [name, value] of new URLSearchParams(query)) {
    const values = entries.get(name);
    if (values) values.push(value);
    else entries.set(name, [value]);
  }
  return Object.fromEntries([...entries].map(([name, values]) => [name, values.length === 1 ? values[0]! : values]));
}

function isScopePart(value: unknown): value is string {
  return typeof value === 'string' && value !== '' && !/[\s/,=]/.test(value);
}

function checkCredential(credential: Extract<EdgeCredential, { kind: 'aws' }>): void {
  if (!credential.accessKeyId || !credential.secretAccessKey) {
    throw new InjectionError('invalid_credential_value', 'aws-sigv4', 'the AWS credential has an empty access key id or secret access key');
  }
  // Both travel in headers; CR/LF/NUL would split them. Name no value: messages reach logs.
  if (/[\r\n\0]/.test(credential.accessKeyId) || /[\r\n\0]/.test(credential.sessionToken ?? '')) {
    throw new InjectionError('invalid_credential_value', 'aws-sigv4', 'the AWS credential contains CR, LF or NUL');
  }
}

/** SHA-256 and HMAC-SHA256 in the Checksum shape SignatureV4 takes (`new (secret?) => Checksum`). */
class Sha256 {
  private readonly secret: Uint8Array | undefined;
  private hash: Hash | Hmac;

  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.secret = secret === undefined ? undefined : toBytes(secret);
    this.hash = this.create();
  }

  update(data: Uint8Array): void {
    this.hash.update(data);
  }

  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }

  reset(): void {
    this.hash = this.create();
  }

  private create(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', this.secret);
  }
}

function toBytes(data: string | ArrayBuffer | ArrayBufferView): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}
