/**
 * Test support: a loopback EC2 instance metadata service that speaks IMDSv2 only, and a
 * signer that signs instance identity documents the way AWS does. Not part of the build entry.
 *
 * The signer writes the PKCS#7 with its own small DER/BER encoder and node:crypto, in the
 * shape of real `rsa2048` documents (checked against one with `openssl cms -cmsout -print`):
 * BER indefinite lengths, the document as a constructed OCTET STRING, SHA-256 digest,
 * `sha256WithRSAEncryption`, signed attributes contentType, signingTime and messageDigest, and
 * no certificate inside. It shares no code with the verifier (pkijs), so a bug in one is not
 * mirrored by the other. Its certificate is self-signed, with AWS's issuer name by default.
 *
 * IMDS as tests need it:
 * - `PUT /latest/api/token` needs `X-aws-ec2-metadata-token-ttl-seconds` (1-21600), else 400;
 *   with `X-Forwarded-For` it answers 403 (IMDS refuses proxied token requests); other
 *   methods get 405.
 * - Every GET needs a live `X-aws-ec2-metadata-token`: without one (IMDSv1) or with an
 *   unknown or expired one it answers 401.
 * - `/latest/dynamic/instance-identity/document` and `/rsa2048`; anything else is 404.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// ---------------------------------------------------------------------------------------
// DER / BER encoding: just what a certificate and a SignedData need
// ---------------------------------------------------------------------------------------

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest >>= 8) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const tlv = (tag: number, content: Buffer): Buffer => Buffer.concat([Buffer.from([tag]), encodeLength(content.length), content]);
const sequence = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
/** DER SET OF: elements sorted by their encoding. */
const setOf = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat([...items].sort(Buffer.compare)));
const explicit = (tagNumber: number, content: Buffer): Buffer => tlv(0xa0 | tagNumber, content);
const nullValue = (): Buffer => Buffer.from([0x05, 0x00]);
const octetString = (bytes: Buffer): Buffer => tlv(0x04, bytes);
const printableString = (text: string): Buffer => tlv(0x13, Buffer.from(text, 'ascii'));
const bitString = (bytes: Buffer): Buffer => tlv(0x03, Buffer.concat([Buffer.from([0]), bytes]));
/** BER: a constructed value of indefinite length, closed by end-of-contents. */
const indefinite = (tag: number, ...items: Buffer[]): Buffer => Buffer.concat([Buffer.from([tag, 0x80]), ...items, Buffer.from([0, 0])]);

function objectIdentifier(dotted: string): Buffer {
  const [first = 0, second = 0, ...rest] = dotted.split('.').map(Number);
  const bytes: number[] = [40 * first + second];
  for (const arc of rest) {
    const chunk: number[] = [arc & 0x7f];
    for (let value = Math.floor(arc / 128); value > 0; value = Math.floor(value / 128)) chunk.unshift((value & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** A non-negative INTEGER from its big-endian bytes. */
function integer(bytes: Buffer | number): Buffer {
  let value = typeof bytes === 'number' ? Buffer.from([bytes]) : bytes;
  while (value.length > 1 && value[0] === 0 && (value[1]! & 0x80) === 0) value = value.subarray(1);
  if ((value[0]! & 0x80) !== 0) value = Buffer.concat([Buffer.from([0]), value]);
  return tlv(0x02, value);
}

const two = (n: number) => String(n).padStart(2, '0');

/** UTCTime up to 2049, GeneralizedTime after, as X.509 and CMS require. */
function time(date: Date): Buffer {
  const tail = `${two(date.getUTCMonth() + 1)}${two(date.getUTCDate())}${two(date.getUTCHours())}${two(date.getUTCMinutes())}${two(date.getUTCSeconds())}Z`;
  const year = date.getUTCFullYear();
  return year < 2050 ? tlv(0x17, Buffer.from(`${two(year % 100)}${tail}`, 'ascii')) : tlv(0x18, Buffer.from(`${year}${tail}`, 'ascii'));
}

const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  sha1WithRsa: '1.2.840.113549.1.1.5',
  country: '2.5.4.6',
  state: '2.5.4.8',
  locality: '2.5.4.7',
  organization: '2.5.4.10',
} as const;

const algorithm = (oid: string): Buffer => sequence(objectIdentifier(oid), nullValue());
const attribute = (oid: string, value: Buffer): Buffer => sequence(objectIdentifier(oid), setOf(value));

// ---------------------------------------------------------------------------------------
// The signer
// ---------------------------------------------------------------------------------------

export interface IidSignerOptions {
  /** Serial number of the certificate (default 9 random bytes, as AWS's have). */
  serialNumber?: Buffer;
  /** Organization of the issuer and subject name (default AWS's). */
  organization?: string;
  /** RSA key size (default 2048, as AWS's). */
  modulusLength?: number;
}

export interface IidSignOptions {
  /** The `signingTime` signed attribute; `null` leaves it out. */
  signingTime: Date | null;
  /** `ber` (default): indefinite lengths like AWS; `der`: definite lengths. */
  encoding?: 'ber' | 'der';
  /** Digest and signature hash (default sha256). */
  hash?: 'sha256' | 'sha1';
  /** Put the signer's certificate in the message, as a forger would. */
  includeCertificate?: boolean;
  /** Sign the content directly, without signed attributes. */
  withoutSignedAttributes?: boolean;
  /** Sign this instead of the content that is attached (a signature over other bytes). */
  signedContent?: string;
  /** The value of the contentType signed attribute (default id-data). */
  contentTypeAttribute?: string;
}

export interface IidSigner {
  certificatePem: string;
  certificateDer: Buffer;
  /** The PKCS#7 of `document`, base64 in 76-character lines as IMDS serves it. */
  sign(document: string, options: IidSignOptions): string;
}

function awsName(organization: string): Buffer {
  const rdn = (oid: string, value: string) => setOf(sequence(objectIdentifier(oid), printableString(value)));
  return sequence(rdn(OID.country, 'US'), rdn(OID.state, 'Washington State'), rdn(OID.locality, 'Seattle'), rdn(OID.organization, organization));
}

/** A signer with a fresh RSA-2048 key and a self-signed certificate valid 2015-2195, like AWS's. */
export function createIidSigner(options: IidSignerOptions = {}): IidSigner {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: options.modulusLength ?? 2048 });
  const serialNumber = options.serialNumber ?? randomBytes(9);
  const name = awsName(options.organization ?? 'Amazon Web Services LLC');
  const tbs = sequence(
    explicit(0, integer(2)), // v3
    integer(serialNumber),
    algorithm(OID.sha256WithRsa),
    name,
    sequence(time(new Date('2015-08-14T09:01:32Z')), time(new Date('2195-01-17T09:01:32Z'))),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
  );
  const certificateDer = sequence(tbs, algorithm(OID.sha256WithRsa), bitString(sign('sha256', tbs, privateKey)));
  const certificatePem = `-----BEGIN CERTIFICATE-----\n${certificateDer.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n`;
  return { certificatePem, certificateDer, sign: (document, signOptions) => signDocument(document, signOptions, { privateKey, serialNumber, name, certificateDer }) };
}

function signDocument(
  document: string,
  options: IidSignOptions,
  key: { privateKey: KeyObject; serialNumber: Buffer; name: Buffer; certificateDer: Buffer },
): string {
  const hash = options.hash ?? 'sha256';
  const ber = (options.encoding ?? 'ber') === 'ber';
  const content = Buffer.from(document, 'utf8');
  const signed = Buffer.from(options.signedContent ?? document, 'utf8');
  const digestAlgorithm = algorithm(hash === 'sha256' ? OID.sha256 : OID.sha1);

  const attributes = [
    attribute(OID.contentType, objectIdentifier(options.contentTypeAttribute ?? OID.data)),
    ...(options.signingTime === null ? [] : [attribute(OID.signingTime, time(options.signingTime))]),
    attribute(OID.messageDigest, octetString(createHash(hash).update(signed).digest())),
  ];
  // The signature covers the attributes as a DER SET; the message carries them as [0] IMPLICIT.
  const attributeSet = setOf(...attributes);
  const signature = sign(hash, options.withoutSignedAttributes ? signed : attributeSet, key.privateKey);
  const signerInfo = sequence(
    integer(1),
    sequence(key.name, integer(key.serialNumber)), // issuerAndSerialNumber
    digestAlgorithm,
    ...(options.withoutSignedAttributes ? [] : [Buffer.concat([Buffer.from([0xa0]), attributeSet.subarray(1)])]),
    algorithm(hash === 'sha256' ? OID.sha256WithRsa : OID.sha1WithRsa),
    octetString(signature),
  );
  const certificates = options.includeCertificate ? [Buffer.concat([Buffer.from([0xa0]), encodeLength(key.certificateDer.length), key.certificateDer])] : [];

  let message: Buffer;
  if (ber) {
    const encapContent = indefinite(0x30, objectIdentifier(OID.data), indefinite(0xa0, indefinite(0x24, octetString(content))));
    const signedData = indefinite(0x30, integer(1), setOf(digestAlgorithm), encapContent, ...certificates, setOf(signerInfo));
    message = indefinite(0x30, objectIdentifier(OID.signedData), indefinite(0xa0, signedData));
  } else {
    const encapContent = sequence(objectIdentifier(OID.data), explicit(0, octetString(content)));
    const signedData = sequence(integer(1), setOf(digestAlgorithm), encapContent, ...certificates, setOf(signerInfo));
    message = sequence(objectIdentifier(OID.signedData), explicit(0, signedData));
  }
  return message.toString('base64').replace(/.{1,76}/g, '$&\n').trimEnd();
}

// ---------------------------------------------------------------------------------------
// The metadata service
// ---------------------------------------------------------------------------------------

/** The document as IMDS formats it: two-space indent, `"key" : value`; undefined fields left out. */
export function formatIdentityDocument(fields: Record<string, unknown>): string {
  return `{\n${Object.entries(fields).filter(([, value]) => value !== undefined).map(([key, value]) => `  ${JSON.stringify(key)} : ${JSON.stringify(value)}`).join(',\n')}\n}`;
}

export function sampleIdentityDocument(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    accountId: '123456789012',
    architecture: 'x86_64',
    availabilityZone: 'eu-west-1b',
    billingProducts: null,
    devpayProductCodes: null,
    marketplaceProductCodes: null,
    imageId: 'ami-0abcdef1234567890',
    instanceId: 'i-0123456789abcdef0',
    instanceType: 'm5.large',
    kernelId: null,
    pendingTime: '2025-06-01T11:59:57Z',
    privateIp: '10.0.1.23',
    ramdiskId: null,
    region: 'eu-west-1',
    version: '2017-09-30',
    ...overrides,
  };
}

export interface RecordedImdsRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  status: number;
}

export interface FakeImds {
  /** `http://127.0.0.1:<port>`: the IMDS origin. */
  endpoint: string;
  requests: RecordedImdsRequest[];
  signer: IidSigner;
  /** The document served, as text (change it to serve another). */
  document: string;
  /** When AWS "signed" the document: the `signingTime` of every signature served. */
  signingTime: Date;
  /** Answer token requests with 403, as IMDS does with IMDS turned off for tokens. */
  refuseTokens: boolean;
  /** Hold every response this long. */
  delayMs: number;
  close(): Promise<void>;
}

export interface FakeImdsOptions {
  signer?: IidSigner;
  document?: Record<string, unknown>;
  signingTime?: Date;
}

const MAX_TOKEN_TTL_SECONDS = 21_600;

export async function startFakeImds(options: FakeImdsOptions = {}): Promise<FakeImds> {
  const tokens = new Map<string, number>(); // token -> expiry (ms)

  const answer = (response: ServerResponse, record: RecordedImdsRequest, status: number, body = '') => {
    record.status = status;
    response.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), server: 'EC2ws' });
    response.end(body);
  };

  function handle(request: IncomingMessage, response: ServerResponse): void {
    const record: RecordedImdsRequest = { method: request.method ?? '', url: request.url ?? '', headers: { ...request.headers }, status: 0 };
    fake.requests.push(record);
    const path = (request.url ?? '').split('?')[0];

    if (path === '/latest/api/token') {
      if (request.method !== 'PUT') return answer(response, record, 405);
      if (request.headers['x-forwarded-for'] !== undefined || fake.refuseTokens) return answer(response, record, 403);
      const ttl = Number(request.headers['x-aws-ec2-metadata-token-ttl-seconds']);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TOKEN_TTL_SECONDS) return answer(response, record, 400);
      const token = `AQAEA${randomBytes(40).toString('base64')}`;
      tokens.set(token, Date.now() + ttl * 1000);
      return answer(response, record, 200, token);
    }
    if (request.method !== 'GET') return answer(response, record, 405);
    const token = request.headers['x-aws-ec2-metadata-token'];
    const expiresAt = typeof token === 'string' ? tokens.get(token) : undefined;
    if (expiresAt === undefined || expiresAt <= Date.now()) return answer(response, record, 401);

    if (path === '/latest/dynamic/instance-identity/document') return answer(response, record, 200, fake.document);
    if (path === '/latest/dynamic/instance-identity/rsa2048') {
      return answer(response, record, 200, fake.signer.sign(fake.document, { signingTime: fake.signingTime }));
    }
    return answer(response, record, 404);
  }

  const server = createServer((request, response) => {
    request.resume(); // bodies are not used; drain them
    setTimeout(() => handle(request, response), fake.delayMs);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const fake: FakeImds = {
    endpoint: `http://127.0.0.1:${port}`,
    requests: [],
    signer: options.signer ?? createIidSigner(),
    document: formatIdentityDocument(options.document ?? sampleIdentityDocument()),
    signingTime: options.signingTime ?? new Date(),
    refuseTokens: false,
    delayMs: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return fake;
}
