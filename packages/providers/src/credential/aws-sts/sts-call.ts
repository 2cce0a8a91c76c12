/**
 * One `AssumeRoleWithWebIdentity` call through `@aws-sdk/client-sts`, loaded on first use
 * (the SDK and the cloud import the catalog at start; the AWS SDK is not light).
 *
 * The call is unsigned: the web identity token is the proof. Every HTTP request goes through
 * the cloud's `fetch` (outbound calls only to configured URLs, with deadlines and size caps)
 * by a small request handler, to the configured endpoint only: the client is given its
 * `endpoint` explicitly, so `AWS_ENDPOINT_URL_STS` and shared config files do not redirect it.
 *
 * Failures become `CredentialError('credential_provider_error')` whose message — which reaches
 * the workload and the audit trail — says that STS refused the call, with AWS's error code, or
 * that the call failed; AWS's message, the HTTP status, the request id and transport failures go
 * to `upstream`, for the control plane's log, redacted of the token even if an endpoint echoes
 * it. The SDK's error (which holds the response) is never attached as `cause`.
 */
import { CredentialError, type UpstreamFailure } from '../../errors.js';
import { AWS_STS_TYPE, type ParsedAwsStsConfig } from './config.js';
import { readCapped } from '../../http/read-capped.js';
import { loadOptionalDependency } from '../../optional-dependency.js';
import { AWS_STS_ERROR_CODES, describeUrl, descriptionForLog, errorCodeForLog, fetchFailure, knownErrorCode, upstreamFailure } from '../../http/upstream-failure.js';

/** The one message for every failure that is not a refusal from STS. */
export const STS_FAILED = 'STS request failed';

export interface StsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

export interface AssumeRoleOptions {
  config: ParsedAwsStsConfig;
  roleSessionName: string;
  webIdentityToken: string;
  fetch: typeof fetch;
}

/** STS answers are about 2 KiB; anything much larger is not STS. */
const MAX_RESPONSE_BYTES = 256 * 1024;

/** The parts of a Smithy HttpRequest this handler reads (structural: no @smithy import). */
interface SdkHttpRequest {
  method: string;
  protocol: string;
  hostname: string;
  port?: number;
  path: string;
  query?: Record<string, string | string[] | null | undefined>;
  headers: Record<string, string>;
  body?: unknown;
}

interface SdkHttpResponse {
  statusCode: number;
  reason?: string;
  headers: Record<string, string>;
  body: Uint8Array;
}

/**
 * A failure of the transport, said in `upstream`. `code` carries the socket error
 * (`ECONNRESET` ...), by which the SDK's retry strategy tells a transient failure.
 */
class StsTransportError extends Error {
  override readonly name = 'StsTransportError';
  readonly code: string | undefined;

  constructor(readonly upstream: UpstreamFailure) {
    super(`STS request failed (${upstream.failure ?? 'network'})`);
    this.code = upstream.networkCode;
  }
}

/** Headers the fetch implementation sets itself. */
const DROPPED_HEADERS = new Set(['host', 'content-length', 'connection', 'transfer-encoding', 'expect']);

function requestUrl(request: SdkHttpRequest): string {
  const port = request.port === undefined ? '' : `:${request.port}`;
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(request.query ?? {})) {
    if (value === null || value === undefined) search.append(name, '');
    else for (const item of Array.isArray(value) ? value : [value]) search.append(name, item);
  }
  const query = search.size > 0 ? `?${search.toString()}` : '';
  return `${request.protocol}//${request.hostname}${port}${request.path}${query}`;
}

/** A Smithy request handler over `fetchFn`: no redirects, capped bodies, the SDK's abort signal. */
function fetchRequestHandler(fetchFn: typeof fetch) {
  return {
    async handle(request: SdkHttpRequest, options?: { abortSignal?: AbortSignal }): Promise<{ response: SdkHttpResponse }> {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(request.headers)) if (!DROPPED_HEADERS.has(name.toLowerCase())) headers[name] = value;
      const body = request.body;
      const url = requestUrl(request);
      const endpoint = describeUrl(url);
      if (body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array)) {
        throw new StsTransportError({ endpoint, failure: 'refused_url' }); // the Query protocol sends a form
      }
      let response: Response;
      try {
        response = await fetchFn(url, {
          method: request.method,
          headers,
          ...(body === undefined ? {} : { body: body as string | Uint8Array<ArrayBuffer> }),
          redirect: 'manual',
          ...(options?.abortSignal === undefined ? {} : { signal: options.abortSignal }),
        });
      } catch (error) {
        if (options?.abortSignal?.aborted) throw error; // the deadline: reported by the caller
        throw new StsTransportError({ endpoint, ...fetchFailure(error, false) });
      }
      const responseHeaders: Record<string, string> = {};
      response.headers.forEach((value, name) => {
        responseHeaders[name] = value;
      });
      if (response.status >= 300 && response.status < 400) {
        // Only the configured endpoint is called.
        await response.body?.cancel().catch(() => undefined);
        throw new StsTransportError({ endpoint, status: response.status, failure: 'redirect' });
      }
      const answer = await readCapped(response, MAX_RESPONSE_BYTES);
      if (answer === undefined) throw new StsTransportError({ endpoint, status: response.status, failure: 'too_large' });
      return { response: { statusCode: response.status, reason: response.statusText, headers: responseHeaders, body: answer } };
    },
    updateHttpClientConfig() {},
    httpHandlerConfigs: () => ({}),
    destroy() {},
  };
}

function fail(message: string, upstream: UpstreamFailure = {}): CredentialError {
  return new CredentialError('credential_provider_error', message, { provider: AWS_STS_TYPE, upstream: upstreamFailure(upstream) });
}

/** An AWS service error as the SDK throws it: `name` (the code), `message`, `$metadata`. */
interface AwsServiceError {
  name: string;
  message: string;
  $fault: 'client' | 'server';
  $metadata: { httpStatusCode?: number; requestId?: string };
}

function isServiceError(error: unknown): error is AwsServiceError {
  return typeof error === 'object' && error !== null && '$metadata' in error && '$fault' in error && typeof (error as { name?: unknown }).name === 'string';
}

/** AWS's code as sent (`InvalidIdentityToken`), from the SDK's exception name (`InvalidIdentityTokenException`). */
const MODELED_CODES: Record<string, string> = {
  InvalidIdentityTokenException: 'InvalidIdentityToken',
  IDPRejectedClaimException: 'IDPRejectedClaim',
  IDPCommunicationErrorException: 'IDPCommunicationError',
  MalformedPolicyDocumentException: 'MalformedPolicyDocument',
  PackedPolicyTooLargeException: 'PackedPolicyTooLarge',
  RegionDisabledException: 'RegionDisabledException',
  ExpiredTokenException: 'ExpiredTokenException',
};

export function toCredentialError(error: unknown, options: { secrets: readonly string[]; endpoint: string; deadline: AbortSignal }): CredentialError {
  const { secrets, endpoint } = options;
  if (error instanceof CredentialError) return error;
  if (options.deadline.aborted) return fail(STS_FAILED, { endpoint, failure: 'timeout' });
  if (error instanceof StsTransportError) return fail(STS_FAILED, error.upstream);
  if (isServiceError(error)) {
    const status = error.$metadata.httpStatusCode;
    const code = MODELED_CODES[error.name] ?? error.name;
    const requestId = typeof error.$metadata.requestId === 'string' && /^[A-Za-z0-9-]{1,64}$/.test(error.$metadata.requestId) ? error.$metadata.requestId : undefined;
    // A 2xx that is not STS's XML, or an answer the SDK could not read (a proxy's HTML page ...)
    // and named `Unknown`, names no code.
    const known = status !== undefined && status >= 200 && status < 300 ? undefined : knownErrorCode(code, AWS_STS_ERROR_CODES);
    return fail(known === undefined ? STS_FAILED : `STS refused AssumeRoleWithWebIdentity: ${known}`, {
      endpoint,
      status,
      error: errorCodeForLog(code, secrets),
      ...descriptionForLog(error.message, secrets),
      requestId,
    });
  }
  return fail(STS_FAILED, { endpoint, failure: 'unreadable' });
}

/** Calls AssumeRoleWithWebIdentity once; throws `CredentialError`. */
export async function assumeRoleWithWebIdentity(options: AssumeRoleOptions): Promise<StsCredentials> {
  const { config, roleSessionName, webIdentityToken } = options;
  const deadline = AbortSignal.timeout(config.timeoutMs);
  const secrets = [webIdentityToken];
  let client: { destroy(): void } | undefined;
  try {
    const { STSClient, AssumeRoleWithWebIdentityCommand } = await loadOptionalDependency<typeof import('@aws-sdk/client-sts')>('@aws-sdk/client-sts', {
      feature: 'the aws-sts credential provider',
      install: ['@aws-sdk/client-sts'],
    });
    const sts = new STSClient({
      region: config.region,
      endpoint: config.stsEndpoint,
      requestHandler: fetchRequestHandler(options.fetch),
      maxAttempts: 2,
      // The call is unsigned: the SDK must never go looking for the cloud's own AWS credentials.
      credentials: () => Promise.reject(new Error('AssumeRoleWithWebIdentity is not signed')),
    });
    client = sts;
    const output = await sts.send(
      new AssumeRoleWithWebIdentityCommand({
        RoleArn: config.roleArn,
        RoleSessionName: roleSessionName,
        WebIdentityToken: webIdentityToken,
        DurationSeconds: config.durationSeconds,
        ...(config.policy === undefined ? {} : { Policy: config.policy }),
      }),
      { abortSignal: deadline },
    );
    const credentials = output.Credentials;
    const expiration = credentials?.Expiration;
    if (
      typeof credentials?.AccessKeyId !== 'string' ||
      credentials.AccessKeyId.length === 0 ||
      typeof credentials.SecretAccessKey !== 'string' ||
      credentials.SecretAccessKey.length === 0 ||
      typeof credentials.SessionToken !== 'string' ||
      credentials.SessionToken.length === 0 ||
      !(expiration instanceof Date) ||
      !Number.isFinite(expiration.getTime())
    ) {
      throw fail('STS returned incomplete credentials');
    }
    return { accessKeyId: credentials.AccessKeyId, secretAccessKey: credentials.SecretAccessKey, sessionToken: credentials.SessionToken, expiration };
  } catch (error) {
    throw toCredentialError(error, { secrets, endpoint: describeUrl(config.stsEndpoint), deadline });
  } finally {
    client?.destroy();
  }
}
