/**
 * Test support: a loopback AWS STS (Query protocol, `Version=2011-06-15`, XML answers) with
 * the two actions Tessera needs. Not part of the build entry.
 *
 * - `AssumeRoleWithWebIdentity` (unsigned) verifies the web identity token for real, as STS
 *   does for an IAM OIDC provider: the role's issuer, audience (client ID) and `sub`
 *   condition, `exp`, and the signature against the issuer's JWKS fetched over HTTP with
 *   jose. It answers AWS's error XML otherwise (`InvalidIdentityToken`, `ExpiredTokenException`,
 *   `AccessDenied`, `ValidationError`, `MalformedPolicyDocument`), and issues random
 *   temporary credentials it remembers.
 * - `GetCallerIdentity` verifies the request's Signature Version 4 for real, written here from
 *   the AWS specification with node:crypto (independently of the SDK's signer): credential
 *   scope (date, region, `sts`, `aws4_request`), signed headers (`host` and `x-amz-date`
 *   required, every `x-amz-*` header signed), payload hash, date skew, and the session token
 *   of temporary credentials; it answers the caller's ARN, user id and account.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';

export interface FakeStsRole {
  roleArn: string;
  /** The IAM OIDC provider's URL: the token's `iss`. */
  issuer: string;
  /** Client IDs of the OIDC provider: the token's `aud` must be one of them. */
  audiences: string[];
  /** Where the issuer's keys are (real STS reads the discovery document first). */
  jwksUri: string;
  /** Trust policy condition on `sub` (StringEquals); absent: any subject. */
  subjects?: string[];
  /** The role's MaxSessionDuration, default 3600. */
  maxSessionDurationSeconds?: number;
}

/** Long-term keys the fake knows, for GetCallerIdentity (an IAM user's). */
export interface FakeStsUser {
  accessKeyId: string;
  secretAccessKey: string;
  arn: string;
}

export interface RecordedStsRequest {
  action: string;
  /** The form parameters (the web identity token included: this is a test double). */
  params: Record<string, string>;
  headers: IncomingMessage['headers'];
  status: number;
  /** The AWS error code answered, if any. */
  error?: string;
  /** For GetCallerIdentity: the headers the signature covered. */
  signedHeaders?: string[];
  /** For AssumeRoleWithWebIdentity: the verified token's claims. */
  claims?: JWTPayload;
}

export interface IssuedStsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
  roleArn: string;
  sessionName: string;
  /** The session policy it was issued with (minified as received). */
  policy: string | undefined;
}

/** Replaces the answer to a request (after parsing, before any check): status and XML body. */
export type StsResponder = (request: RecordedStsRequest) => { status: number; body: string } | undefined;

export interface FakeSts {
  /** `http://127.0.0.1:<port>/`, for `stsEndpoint` or the SDK's `endpoint`. */
  url: string;
  region: string;
  requests: RecordedStsRequest[];
  /** Credentials issued, by access key id. */
  issued: Map<string, IssuedStsCredentials>;
  /** Hold each answer this long. */
  delayMs: number;
  responder: StsResponder | undefined;
  close(): Promise<void>;
}

export interface FakeStsOptions {
  roles: FakeStsRole[];
  users?: FakeStsUser[];
  /** The region requests must be signed for (default us-east-1). */
  region?: string;
}

const XMLNS = 'https://sts.amazonaws.com/doc/2011-06-15/';
const SIGV4 = 'AWS4-HMAC-SHA256';
const MAX_CLOCK_SKEW_MS = 15 * 60_000;
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::([0-9]{12}):role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]+)$/;

/** Plain fields, no parameter properties: e2e processes may load this file with Node's type stripping. */
class StsError extends Error {
  readonly status: number;
  readonly code: string;
  readonly type: 'Sender' | 'Receiver';

  constructor(status: number, code: string, message: string, type: 'Sender' | 'Receiver' = 'Sender') {
    super(message);
    this.status = status;
    this.code = code;
    this.type = type;
  }
}

const XML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
const xml = (text: string) => text.replace(/[&<>"']/g, (char) => XML_ENTITIES[char]!);
const requestId = () => [8, 4, 4, 4, 12].map((n) => randomBytes(n / 2).toString('hex')).join('-');
const randomUpper = (length: number) =>
  Array.from(randomBytes(length), (byte) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[byte % 32]).join('');

function errorXml(error: StsError): string {
  return (
    `<ErrorResponse xmlns="${XMLNS}">\n  <Error>\n    <Type>${error.type}</Type>\n    <Code>${xml(error.code)}</Code>\n` +
    `    <Message>${xml(error.message)}</Message>\n  </Error>\n  <RequestId>${requestId()}</RequestId>\n</ErrorResponse>\n`
  );
}

function sha256Hex(data: string | Buffer): string {
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

/** RFC 3986 unreserved characters stay, everything else is %XX (upper-case), as SigV4 wants. */
function awsUriEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const char = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function parseForm(text: string): Array<[string, string]> {
  return [...new URLSearchParams(text)];
}

export async function startFakeSts(options: FakeStsOptions): Promise<FakeSts> {
  const region = options.region ?? 'us-east-1';
  const roles = new Map(options.roles.map((role) => [role.roleArn, role]));
  const users = new Map((options.users ?? []).map((user) => [user.accessKeyId, user]));
  const jwksByUri = new Map<string, ReturnType<typeof createRemoteJWKSet>>();
  const issued = new Map<string, IssuedStsCredentials>();

  async function assumeRoleWithWebIdentity(params: Record<string, string>, record: RecordedStsRequest): Promise<string> {
    for (const name of ['RoleArn', 'RoleSessionName', 'WebIdentityToken']) {
      if (!params[name]) throw new StsError(400, 'MissingParameter', `The request must contain the parameter ${name}`);
    }
    const sessionName = params.RoleSessionName!;
    if (!SESSION_NAME.test(sessionName)) {
      throw new StsError(400, 'ValidationError', "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*");
    }
    const role = roles.get(params.RoleArn!);
    const durationSeconds = params.DurationSeconds === undefined ? 3600 : Number(params.DurationSeconds);
    if (!Number.isInteger(durationSeconds) || durationSeconds < 900 || durationSeconds > 43_200) {
      throw new StsError(400, 'ValidationError', "1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200");
    }
    let policy: string | undefined;
    if (params.Policy !== undefined) {
      try {
        const parsed: unknown = JSON.parse(params.Policy);
        if (typeof parsed !== 'object' || parsed === null || !('Statement' in parsed)) throw new Error('no statement');
      } catch {
        throw new StsError(400, 'MalformedPolicyDocument', 'The policy is not in the valid JSON format.');
      }
      if (params.Policy.length > 2048) throw new StsError(400, 'PackedPolicyTooLarge', 'Packed policy consumes more than 100% of the allotted space');
      policy = params.Policy;
    }

    // The token first, as STS does: its (unverified) iss picks the OIDC provider.
    const issuer = decodeIssuer(params.WebIdentityToken!);
    const known = options.roles.find((candidate) => candidate.issuer === issuer);
    if (known === undefined) throw new StsError(400, 'InvalidIdentityToken', `No OpenIDConnect provider found in your account for ${issuer ?? 'the token issuer'}`);
    let jwks = jwksByUri.get(known.jwksUri);
    if (jwks === undefined) {
      jwks = createRemoteJWKSet(new URL(known.jwksUri));
      jwksByUri.set(known.jwksUri, jwks);
    }
    try {
      const verified = await jwtVerify(params.WebIdentityToken!, jwks, {
        issuer: known.issuer,
        audience: known.audiences,
        algorithms: ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512'],
        requiredClaims: ['exp', 'iat', 'sub'],
      });
      record.claims = verified.payload;
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) {
        throw new StsError(400, 'ExpiredTokenException', 'Token expired: current date/time must be before the expiration date/time.');
      }
      if (error instanceof joseErrors.JWTClaimValidationFailed && error.claim === 'aud') throw new StsError(400, 'InvalidIdentityToken', 'Incorrect token audience');
      throw new StsError(400, 'InvalidIdentityToken', 'The web identity token that was passed could not be validated by AWS. Get a new identity token from the identity provider and then retry the request.');
    }

    const sub = String(record.claims.sub);
    // The role's trust policy: its OIDC provider, and the condition on sub.
    if (role === undefined || role.issuer !== known.issuer || (role.subjects !== undefined && !role.subjects.includes(sub))) {
      throw new StsError(403, 'AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity');
    }
    if (durationSeconds > (role.maxSessionDurationSeconds ?? 3600)) {
      throw new StsError(400, 'ValidationError', 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
    }

    const credentials: IssuedStsCredentials = {
      accessKeyId: `ASIA${randomUpper(16)}`,
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: `IQoJb3JpZ2luX2Vj${randomBytes(96).toString('base64')}`,
      expiration: new Date(Math.floor(Date.now() / 1000) * 1000 + durationSeconds * 1000),
      roleArn: role.roleArn,
      sessionName,
      policy,
    };
    issued.set(credentials.accessKeyId, credentials);
    const [, account, roleName] = ROLE_ARN.exec(role.roleArn) ?? [];
    return (
      `<AssumeRoleWithWebIdentityResponse xmlns="${XMLNS}">\n  <AssumeRoleWithWebIdentityResult>\n` +
      `    <Audience>${xml(String(record.claims.aud))}</Audience>\n` +
      `    <AssumedRoleUser>\n      <AssumedRoleId>AROA${randomUpper(17)}:${xml(sessionName)}</AssumedRoleId>\n` +
      `      <Arn>arn:aws:sts::${account}:assumed-role/${xml(roleName ?? '')}/${xml(sessionName)}</Arn>\n    </AssumedRoleUser>\n` +
      `    <Provider>${xml(known.issuer.replace(/^https?:\/\//, ''))}</Provider>\n` +
      `    <Credentials>\n      <AccessKeyId>${credentials.accessKeyId}</AccessKeyId>\n` +
      `      <SecretAccessKey>${xml(credentials.secretAccessKey)}</SecretAccessKey>\n` +
      `      <SessionToken>${xml(credentials.sessionToken)}</SessionToken>\n` +
      `      <Expiration>${credentials.expiration.toISOString().replace('.000Z', 'Z')}</Expiration>\n    </Credentials>\n` +
      `    <SubjectFromWebIdentityToken>${xml(sub)}</SubjectFromWebIdentityToken>\n` +
      `  </AssumeRoleWithWebIdentityResult>\n  <ResponseMetadata>\n    <RequestId>${requestId()}</RequestId>\n  </ResponseMetadata>\n` +
      `</AssumeRoleWithWebIdentityResponse>\n`
    );
  }

  function getCallerIdentity(request: IncomingMessage, body: Buffer, record: RecordedStsRequest): string {
    const caller = verifySignature(request, body, record);
    return (
      `<GetCallerIdentityResponse xmlns="${XMLNS}">\n  <GetCallerIdentityResult>\n` +
      `    <Arn>${xml(caller.arn)}</Arn>\n    <UserId>${xml(caller.userId)}</UserId>\n    <Account>${caller.account}</Account>\n` +
      `  </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>${requestId()}</RequestId>\n  </ResponseMetadata>\n` +
      `</GetCallerIdentityResponse>\n`
    );
  }

  /** Checks SigV4; returns who signed. Messages name headers, never keys or signatures. */
  function verifySignature(request: IncomingMessage, body: Buffer, record: RecordedStsRequest): { arn: string; userId: string; account: string } {
    const authorization = request.headers.authorization;
    if (authorization === undefined) throw new StsError(403, 'MissingAuthenticationToken', 'Request is missing Authentication Token');
    const malformed = new StsError(400, 'IncompleteSignature', 'The request signature does not conform to AWS standards.');
    const spaceAt = authorization.indexOf(' ');
    if (spaceAt < 0 || authorization.slice(0, spaceAt) !== SIGV4) throw malformed;
    const fields = new Map<string, string>();
    for (const part of authorization.slice(spaceAt + 1).split(',')) {
      const equalsAt = part.indexOf('=');
      if (equalsAt < 0) throw malformed;
      fields.set(part.slice(0, equalsAt).trim(), part.slice(equalsAt + 1).trim());
    }
    const credential = fields.get('Credential') ?? '';
    const signedHeaderList = fields.get('SignedHeaders') ?? '';
    const signature = fields.get('Signature') ?? '';
    const [accessKeyId = '', scopeDate, scopeRegion, scopeService, terminator] = credential.split('/');
    if (credential.split('/').length !== 5 || !/^[0-9a-f]{64}$/.test(signature) || signedHeaderList === '') throw malformed;

    const temporary = issued.get(accessKeyId);
    const user = users.get(accessKeyId);
    const secret = temporary?.secretAccessKey ?? user?.secretAccessKey;
    if (secret === undefined) throw new StsError(403, 'InvalidClientTokenId', 'The security token included in the request is invalid.');

    const amzDate = typeof request.headers['x-amz-date'] === 'string' ? request.headers['x-amz-date'] : '';
    if (!/^\d{8}T\d{6}Z$/.test(amzDate)) throw new StsError(400, 'IncompleteSignature', 'Authorization header requires existence of either a \'X-Amz-Date\' or a \'Date\' header.');
    const signedAt = Date.parse(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13)}`);
    if (Math.abs(Date.now() - signedAt) > MAX_CLOCK_SKEW_MS) throw new StsError(403, 'SignatureDoesNotMatch', 'Signature expired: the request time is too far from the current time.');
    if (scopeDate !== amzDate.slice(0, 8) || scopeService !== 'sts' || terminator !== 'aws4_request') {
      throw new StsError(403, 'SignatureDoesNotMatch', 'Credential should be scoped to a valid date, service sts and aws4_request.');
    }
    if (scopeRegion !== region) throw new StsError(403, 'SignatureDoesNotMatch', `Credential should be scoped to a valid region, not '${scopeRegion ?? ''}'.`);

    const signedHeaders = signedHeaderList.split(';');
    record.signedHeaders = signedHeaders;
    const sorted = [...signedHeaders].sort();
    if (signedHeaders.some((name, i) => name !== name.toLowerCase() || name !== sorted[i] || name === sorted[i - 1])) throw malformed;
    if (!signedHeaders.includes('host') || !signedHeaders.includes('x-amz-date')) {
      throw new StsError(403, 'SignatureDoesNotMatch', 'host and x-amz-date must be signed.');
    }
    const unsigned = Object.keys(request.headers).filter((name) => name.startsWith('x-amz-') && !signedHeaders.includes(name));
    if (unsigned.length > 0) throw new StsError(403, 'SignatureDoesNotMatch', `Headers present in the request were not signed: ${unsigned.join(', ')}`);

    const target = request.url ?? '/';
    const questionAt = target.indexOf('?');
    const rawPath = questionAt < 0 ? target : target.slice(0, questionAt);
    const query = questionAt < 0 ? [] : parseForm(target.slice(questionAt + 1));
    // Non-S3 services encode each path segment a second time.
    const canonicalUri = rawPath === '' ? '/' : rawPath.split('/').map(awsUriEncode).join('/');
    const canonicalQuery = query
      .map(([name, value]): [string, string] => [awsUriEncode(name), awsUriEncode(value)])
      .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
      .map(([name, value]) => `${name}=${value}`)
      .join('&');
    const canonicalHeaders = signedHeaders.map((name) => {
      const values = request.headersDistinct[name];
      if (values === undefined) throw new StsError(403, 'SignatureDoesNotMatch', `The signed header "${name}" is not on the request.`);
      return `${name}:${values.map((value) => value.replace(/[ \t]+/g, ' ').trim()).join(',')}`;
    });
    const canonicalRequest = [request.method ?? '', canonicalUri, canonicalQuery, ...canonicalHeaders, '', signedHeaderList, sha256Hex(body)].join('\n');
    const scope = `${scopeDate}/${scopeRegion}/${scopeService}/${terminator}`;
    const stringToSign = [SIGV4, amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
    const signingKey = [scopeDate!, scopeRegion!, scopeService!, terminator!].reduce<Buffer>((key, part) => hmac(key, part), Buffer.from(`AWS4${secret}`, 'utf8'));
    if (!timingSafeEqual(hmac(signingKey, stringToSign), Buffer.from(signature, 'hex'))) {
      throw new StsError(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.');
    }

    const token = typeof request.headers['x-amz-security-token'] === 'string' ? request.headers['x-amz-security-token'] : undefined;
    if (temporary !== undefined) {
      if (token === undefined || !safeEqual(token, temporary.sessionToken)) throw new StsError(403, 'InvalidClientTokenId', 'The security token included in the request is invalid.');
      if (temporary.expiration.getTime() <= Date.now()) throw new StsError(403, 'ExpiredToken', 'The security token included in the request is expired');
      const [, account = '', roleName = ''] = ROLE_ARN.exec(temporary.roleArn) ?? [];
      return { arn: `arn:aws:sts::${account}:assumed-role/${roleName}/${temporary.sessionName}`, userId: `AROA${account}:${temporary.sessionName}`, account };
    }
    if (token !== undefined) throw new StsError(403, 'InvalidClientTokenId', 'The security token included in the request is invalid.');
    const account = /^arn:aws[a-z-]*:iam::([0-9]{12}):/.exec(user!.arn)?.[1] ?? '';
    return { arn: user!.arn, userId: `AIDA${accessKeyId.slice(4)}`, account };
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const target = request.url ?? '/';
    const query = target.includes('?') ? parseForm(target.slice(target.indexOf('?') + 1)) : [];
    const params = Object.fromEntries([...query, ...(request.method === 'POST' ? parseForm(body.toString('utf8')) : [])]);
    const record: RecordedStsRequest = { action: params.Action ?? '', params, headers: { ...request.headers }, status: 0 };
    fake.requests.push(record);

    let status = 200;
    let answer: string;
    try {
      if (fake.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, fake.delayMs));
      const custom = fake.responder?.(record);
      if (custom !== undefined) {
        status = custom.status;
        answer = custom.body;
      } else if (params.Version !== '2011-06-15') {
        throw new StsError(400, 'InvalidAction', 'Could not find operation for this version.');
      } else if (params.Action === 'AssumeRoleWithWebIdentity') {
        answer = await assumeRoleWithWebIdentity(params, record);
      } else if (params.Action === 'GetCallerIdentity') {
        answer = getCallerIdentity(request, body, record);
      } else {
        throw new StsError(400, 'InvalidAction', `Could not find operation ${params.Action ?? ''} for version 2011-06-15`);
      }
    } catch (error) {
      const stsError = error instanceof StsError ? error : new StsError(500, 'InternalFailure', 'The request processing has failed because of an unknown error.', 'Receiver');
      status = stsError.status;
      record.error = stsError.code;
      answer = errorXml(stsError);
    }
    record.status = status;
    response.writeHead(status, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(answer), 'x-amzn-requestid': requestId() });
    response.end(answer);
  }

  const server = createServer((request, response) => {
    handle(request, response).catch(() => {
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const fake: FakeSts = {
    url: `http://127.0.0.1:${port}/`,
    region,
    requests: [],
    issued,
    delayMs: 0,
    responder: undefined,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections(); // SDK clients keep connections alive
        server.close(() => resolve());
      }),
  };
  return fake;
}

/** The unverified `iss` of a token, to pick the OIDC provider as STS does; undefined if unreadable. */
function decodeIssuer(token: string): string | undefined {
  try {
    const payload: unknown = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
    const iss = (payload as { iss?: unknown }).iss;
    return typeof iss === 'string' ? iss : undefined;
  } catch {
    return undefined;
  }
}
