/**
 * `aws-iam` trust provider: verifies a workload's signed `sts:GetCallerIdentity` request by
 * forwarding it, unchanged, to the configured STS endpoint, and vouches for the caller STS
 * names: account, ARN, user id, and the IAM role (or user) behind it.
 *
 * Everything that can be checked without AWS is checked first, before any network call:
 *
 * 1. the evidence's shape and sizes (bounded; only the headers the request needs);
 * 2. `url` is exactly the configured `stsEndpoint`: a workload cannot make the cloud call
 *    anywhere else;
 * 3. `POST`, and the body is the GetCallerIdentity form, nothing more;
 * 4. `authorization` is AWS4-HMAC-SHA256 scoped to `<date>/<region>/sts/aws4_request`, and its
 *    SignedHeaders cover `host`, `x-amz-date`, `x-tessera-server-id`, `x-tessera-nonce` and
 *    every other header sent;
 * 5. `x-tessera-server-id` is this cloud's URL (`ctx.audience`): a request signed for another
 *    Tessera deployment is refused here;
 * 6. `x-amz-date` is within `maxSkewSeconds` of the cloud's clock;
 * 7. the `host` header is the endpoint's host;
 * 8. `ctx.consumeNonce(x-tessera-nonce)` is true: the nonce was issued by this cloud to the
 *    proof key that is attesting, and was never used. A request captured on its way (logs, a
 *    proxy, a compromised cloud) is therefore useless a second time, and useless elsewhere.
 *
 * Then STS checks the signature itself. Its refusals (`SignatureDoesNotMatch`,
 * `InvalidClientTokenId`, `ExpiredToken` ...) become `evidence_invalid` with AWS's code; its
 * own failures (throttling, 5xx, unreachable) `trust_provider_error`. Messages never hold the
 * signature, the access key id, the session token or the nonce.
 *
 * Claims: `aws.accountId`, `aws.arn`, `aws.userId`; for a role session `aws.roleArn`
 * (`arn:<partition>:iam::<account>:role/<name>`, built from the assumed-role ARN, which does
 * not show the role's path) and `aws.roleSessionName`; for an IAM user `aws.userArn`.
 */
import type { TrustProvider, VerifiedIdentity, VerifyContext } from '../../contracts.js';
import { defineTrustProvider } from '../../define.js';
import { TesseraError, TrustError, type UpstreamFailure } from '../../errors.js';
import { readCapped } from '../../http/read-capped.js';
import { AWS_STS_ERROR_CODES, describeUrl, errorCodeForLog, fetchFailure, knownErrorCode, upstreamFailure } from '../../http/upstream-failure.js';
import {
  type AwsIamConfig,
  awsIamConfigSchema,
  parseAwsIamConfig,
  type ParsedAwsIamConfig,
  validateAwsIamConfig,
} from './config.js';
import {
  AWS_IAM_EVIDENCE_TYPE,
  AWS_IAM_NONCE_HEADER,
  AWS_IAM_REQUEST_BODY,
  AWS_IAM_SERVER_ID_HEADER,
  AWS_IAM_TYPE,
} from './evidence.js';
import { ACCOUNT, MAX_ARN_LENGTH, parseCallerArn, readCallerIdentity, readStsError, USER_ID } from './sts-response.js';

const refuse = (message: string, upstream?: UpstreamFailure) =>
  new TrustError('evidence_invalid', message, { provider: AWS_IAM_TYPE, ...(upstream ? { upstream: upstreamFailure(upstream) } : {}) });
const unavailable = (message: string, upstream?: UpstreamFailure) =>
  new TrustError('trust_provider_error', message, { provider: AWS_IAM_TYPE, ...(upstream ? { upstream: upstreamFailure(upstream) } : {}) });
/**
 * What a workload is told when STS gave no usable answer, whatever the reason: whether the
 * configured endpoint refused the connection, timed out or answered an HTTP error is for the
 * operator's log (`upstream`), not for whoever chose the endpoint.
 */
const STS_UNAVAILABLE = 'STS could not check the signed request';

export const MAX_AWS_IAM_URL_LENGTH = 2048;
/** Session tokens of role sessions run to a few KiB. */
export const MAX_AWS_IAM_HEADER_VALUE_LENGTH = 8192;
export const MAX_AWS_IAM_HEADERS_LENGTH = 16 * 1024;
/** STS answers GetCallerIdentity in well under 1 KiB. */
const MAX_RESPONSE_BYTES = 64 * 1024;

/** The headers a signed GetCallerIdentity needs; anything else is refused. */
const ACCEPTED_HEADERS = new Set([
  'authorization',
  'host',
  'content-type',
  'x-amz-date',
  'x-amz-security-token',
  'x-amz-content-sha256',
  AWS_IAM_SERVER_ID_HEADER,
  AWS_IAM_NONCE_HEADER,
]);
const REQUIRED_SIGNED = ['host', 'x-amz-date', AWS_IAM_SERVER_ID_HEADER, AWS_IAM_NONCE_HEADER] as const;
/** The body's two parameters, in either order; no encoding, no extra parameter. */
const ACCEPTED_BODIES = new Set([AWS_IAM_REQUEST_BODY, 'Version=2011-06-15&Action=GetCallerIdentity']);
const CONTENT_TYPE = /^application\/x-www-form-urlencoded(?:; ?charset=utf-8)?$/i;
const HEADER_NAME = /^[a-z0-9-]{1,64}$/;
const HEADER_VALUE = /^[\x20-\x7E]*$/;
const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([A-Za-z0-9]{16,128})\/([0-9]{8})\/([a-z0-9-]{1,32})\/([a-z0-9-]{1,32})\/(aws4_request), ?SignedHeaders=([a-z0-9;-]{1,1024}), ?Signature=[0-9a-f]{64}$/;
const AMZ_DATE = /^([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z$/;
const NONCE = /^[\x21-\x7E]{1,4096}$/;
/** Codes by which STS says it cannot answer now, not that the request is bad. */
const UNAVAILABLE_CODES = new Set(['Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequestsException', 'ServiceUnavailable', 'InternalFailure', 'InternalError']);

interface SignedRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

function readEvidence(evidence: unknown): SignedRequest & { method: string } {
  const shape = `evidence must be { type: '${AWS_IAM_EVIDENCE_TYPE}', method, url, headers, body }`;
  if (typeof evidence !== 'object' || evidence === null || Array.isArray(evidence)) throw refuse(shape);
  const { type, method, url, headers, body } = evidence as Record<string, unknown>;
  if (type !== AWS_IAM_EVIDENCE_TYPE || typeof method !== 'string' || typeof url !== 'string' || typeof body !== 'string') throw refuse(shape);
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers) || ![Object.prototype, null].includes(Object.getPrototypeOf(headers))) throw refuse(shape);
  if (url.length > MAX_AWS_IAM_URL_LENGTH) throw refuse('url is too long');
  if (method.length > 16) throw refuse('method must be POST');
  if (body.length > 256) throw refuse('body is not the GetCallerIdentity request');

  const entries = Object.entries(headers);
  if (entries.length > ACCEPTED_HEADERS.size) throw refuse('too many headers');
  let total = 0;
  const checked: Record<string, string> = {};
  for (const [name, value] of entries) {
    if (!HEADER_NAME.test(name)) throw refuse('header names must be lower-case tokens');
    if (!ACCEPTED_HEADERS.has(name)) throw refuse(`header ${name} is not accepted`);
    if (typeof value !== 'string' || value.length > MAX_AWS_IAM_HEADER_VALUE_LENGTH || !HEADER_VALUE.test(value)) throw refuse(`header ${name} is invalid`);
    total += name.length + value.length;
    checked[name] = value;
  }
  if (total > MAX_AWS_IAM_HEADERS_LENGTH) throw refuse('headers are too large');
  return { method, url, headers: checked, body };
}

function amzDateMs(value: string): number | undefined {
  const match = AMZ_DATE.exec(value);
  if (match === null) return undefined;
  const [, year, month, day, hour, minute, second] = match.map(Number) as [number, number, number, number, number, number, number];
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(ms);
  // Refuse dates that Date.UTC would roll over (20250231T...).
  if (check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) return undefined;
  return ms;
}

/** Checks 1 to 7 of the header comment; returns the nonce to consume. */
function checkRequest(request: SignedRequest & { method: string }, config: ParsedAwsIamConfig, ctx: VerifyContext): string {
  // The only place the cloud forwards to: exactly the configured endpoint, whatever the evidence says.
  if (request.url !== config.stsEndpoint) throw refuse('url is not the configured stsEndpoint');
  if (request.method !== 'POST') throw refuse('method must be POST');
  if (!ACCEPTED_BODIES.has(request.body)) throw refuse('body is not the GetCallerIdentity request');

  const { headers } = request;
  const contentType = headers['content-type'];
  if (contentType === undefined || !CONTENT_TYPE.test(contentType)) throw refuse('content-type must be application/x-www-form-urlencoded');

  const authorization = headers.authorization;
  if (authorization === undefined) throw refuse('the request is not signed (no authorization header)');
  const match = AUTHORIZATION.exec(authorization);
  if (match === null) throw refuse('authorization is not an AWS4-HMAC-SHA256 signature');
  const [, , scopeDate, scopeRegion, scopeService, , signedHeaderList = ''] = match;
  if (scopeService !== 'sts') throw refuse('the signature is not scoped to service sts');
  if (scopeRegion !== config.region) throw refuse(`the signature is not scoped to region ${config.region}`);

  const signed = signedHeaderList.split(';');
  const sorted = [...signed].sort();
  if (signed.some((name, index) => name === '' || name !== sorted[index] || name === sorted[index - 1])) throw refuse('SignedHeaders is malformed');
  for (const name of REQUIRED_SIGNED) if (!signed.includes(name)) throw refuse(`header ${name} must be signed`);
  for (const name of Object.keys(headers)) if (name !== 'authorization' && !signed.includes(name)) throw refuse(`header ${name} must be signed`);
  for (const name of signed) if (headers[name] === undefined) throw refuse(`signed header ${name} is missing`);

  // Bound to this cloud: a request signed for another Tessera deployment stops here.
  if (headers[AWS_IAM_SERVER_ID_HEADER] !== ctx.audience) throw refuse(`${AWS_IAM_SERVER_ID_HEADER} does not name this cloud: the request was signed for another Tessera deployment`);

  const signedAt = amzDateMs(headers['x-amz-date']!);
  if (signedAt === undefined) throw refuse('x-amz-date is not an ISO 8601 basic date (YYYYMMDDTHHMMSSZ)');
  if (scopeDate !== headers['x-amz-date']!.slice(0, 8)) throw refuse('the credential scope date is not the date of x-amz-date');
  const skewMs = signedAt - ctx.now().getTime();
  if (skewMs > config.maxSkewSeconds * 1000) throw refuse(`x-amz-date is more than maxSkewSeconds (${config.maxSkewSeconds}) in the future`);
  if (-skewMs > config.maxSkewSeconds * 1000) {
    throw new TrustError('evidence_expired', `x-amz-date is more than maxSkewSeconds (${config.maxSkewSeconds}) old`, { provider: AWS_IAM_TYPE });
  }

  if (headers.host !== config.host) throw refuse("the host header is not the stsEndpoint's host");

  const nonce = headers[AWS_IAM_NONCE_HEADER]!;
  if (!NONCE.test(nonce)) throw refuse(`${AWS_IAM_NONCE_HEADER} is not a nonce`);
  return nonce;
}

async function consume(nonce: string, ctx: VerifyContext): Promise<void> {
  if (ctx.consumeNonce === undefined) throw unavailable('this cloud cannot check nonces here (no consumeNonce): aws-iam evidence is refused');
  let fresh: boolean;
  try {
    fresh = await ctx.consumeNonce(nonce);
  } catch (error) {
    if (error instanceof TesseraError) throw error;
    throw unavailable('the nonce could not be checked');
  }
  if (fresh !== true) throw refuse('the nonce is not one this cloud issued to this key, or it was already used');
}

/** Sends the request as signed (the fetch sets `host` itself, from the same URL) and returns STS's answer. */
async function forward(request: SignedRequest, config: ParsedAwsIamConfig, ctx: VerifyContext): Promise<{ status: number; text: string }> {
  const timeout = AbortSignal.timeout(config.timeoutMs);
  const signal = ctx.signal === undefined ? timeout : AbortSignal.any([timeout, ctx.signal]);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) if (name !== 'host') headers[name] = value;
  const endpoint = describeUrl(config.stsEndpoint);
  let response: Response;
  try {
    response = await ctx.fetch(config.stsEndpoint, { method: 'POST', headers, body: request.body, redirect: 'manual', signal });
  } catch (error) {
    throw unavailable(STS_UNAVAILABLE, { endpoint, ...fetchFailure(error, timeout.aborted) });
  }
  if (response.status >= 300 && response.status < 400) {
    // Only the configured endpoint is called.
    await response.body?.cancel().catch(() => undefined);
    throw unavailable(STS_UNAVAILABLE, { endpoint, status: response.status, failure: 'redirect' });
  }
  let bytes: Uint8Array | undefined;
  try {
    bytes = await readCapped(response, MAX_RESPONSE_BYTES);
  } catch (error) {
    throw unavailable(STS_UNAVAILABLE, { endpoint, status: response.status, ...fetchFailure(error, timeout.aborted) });
  }
  if (bytes === undefined) throw unavailable(STS_UNAVAILABLE, { endpoint, status: response.status, failure: 'too_large' });
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    text = '';
  }
  return { status: response.status, text };
}

function stsFailure(status: number, text: string, endpoint: string): TrustError {
  const answer = readStsError(text);
  if (answer === undefined) return unavailable(STS_UNAVAILABLE, { endpoint, status, failure: 'unreadable' });
  const upstream = { endpoint, status, error: errorCodeForLog(answer.code), requestId: answer.requestId };
  const known = knownErrorCode(answer.code, AWS_STS_ERROR_CODES);
  if (status >= 500 || UNAVAILABLE_CODES.has(answer.code) || known === undefined) return unavailable(STS_UNAVAILABLE, upstream);
  // AWS's code says what to fix (SignatureDoesNotMatch, ExpiredToken ...); its message is not relayed.
  return refuse(`STS refused the signed request: ${known}`, upstream);
}

function identityFrom(text: string, config: ParsedAwsIamConfig): VerifiedIdentity {
  let caller: ReturnType<typeof readCallerIdentity>;
  try {
    caller = readCallerIdentity(text);
  } catch {
    throw unavailable(STS_UNAVAILABLE, { endpoint: describeUrl(config.stsEndpoint), status: 200, failure: 'unreadable' });
  }
  const principal = parseCallerArn(caller.arn);
  if (!ACCOUNT.test(caller.account) || !USER_ID.test(caller.userId) || caller.arn.length > MAX_ARN_LENGTH || principal === undefined || principal.account !== caller.account) {
    throw unavailable('STS answered a caller identity of an unexpected form');
  }
  if (config.accountIds !== undefined && !config.accountIds.has(caller.account)) throw refuse('the caller\'s account is not an allowed account');

  const claims: Record<string, string> = { 'aws.accountId': caller.account, 'aws.arn': caller.arn, 'aws.userId': caller.userId };
  if (principal.kind === 'assumed-role') {
    claims['aws.roleArn'] = `arn:${principal.partition}:iam::${principal.account}:role/${principal.roleName}`;
    claims['aws.roleSessionName'] = principal.sessionName;
  } else if (principal.kind === 'user') {
    claims['aws.userArn'] = caller.arn;
  }
  if (config.roleArns !== undefined) {
    const roleArn = claims['aws.roleArn'];
    if (roleArn === undefined) throw refuse('the caller is not an IAM role session, and roleArns is set');
    if (!config.roleArns.some((pattern) => pattern.test(roleArn))) throw refuse('the caller\'s role is not in roleArns');
  }
  return { claims, subject: caller.arn };
}

export function createAwsIamTrustProvider(): TrustProvider<AwsIamConfig> & { readonly configSchema: typeof awsIamConfigSchema } {
  return defineTrustProvider({
    specificationVersion: 'v1',
    type: AWS_IAM_TYPE,
    evidenceType: AWS_IAM_EVIDENCE_TYPE,
    configSchema: awsIamConfigSchema,
    validate: validateAwsIamConfig,
    // A signed STS request names no issuer: asked about every aws-iam evidence.
    acceptedIssuers: () => null,
    async verify(evidence, rawConfig, ctx): Promise<VerifiedIdentity> {
      const parsed = parseAwsIamConfig(rawConfig);
      if ('issues' in parsed) throw new TrustError('invalid_config', parsed.issues.join('; '), { provider: AWS_IAM_TYPE });
      const config = parsed.config;

      const request = readEvidence(evidence);
      const nonce = checkRequest(request, config, ctx);
      await consume(nonce, ctx);

      const { status, text } = await forward(request, config, ctx);
      if (status !== 200) throw stsFailure(status, text, describeUrl(config.stsEndpoint));
      return identityFrom(text, config);
    },
  });
}

/** The built-in instance, for the catalog. */
export const awsIamTrustProvider = /* @__PURE__ */ createAwsIamTrustProvider();
