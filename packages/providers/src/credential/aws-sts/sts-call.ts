/**
 * One `AssumeRoleWithWebIdentity` call through `@aws-sdk/client-sts`, loaded on first use
 * (the SDK and the cloud import the catalog at start; the AWS SDK is not light).
 *
 * The call is unsigned: the web identity token is the proof. Every HTTP request goes through
 * the cloud's `fetch` (outbound calls only to configured URLs, with deadlines and size caps)
 * by a small request handler, to the configured endpoint only: the client is given its
 * `endpoint` explicitly, so `AWS_ENDPOINT_URL_STS` and shared config files do not redirect it.
 *
 * Failures become `CredentialError('credential_provider_error')` with AWS's error code and
 * message, but never the web identity token or a key: the message is redacted of the token
 * even if an endpoint echoes it, and the SDK's error (which holds the response) is not
 * attached as `cause`.
 */
import { CredentialError, TesseraError } from '../../errors.js';
import { AWS_STS_TYPE, type ParsedAwsStsConfig } from './config.js';
import { readCapped } from '../../http/read-capped.js';

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
const MAX_MESSAGE_LENGTH = 300;
/** AWS error codes are identifiers: `AccessDenied`, `InvalidIdentityToken` ... */
const ERROR_CODE = /^[A-Za-z][A-Za-z0-9.]{0,63}$/;

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
 * A failure of the transport, with a message that is safe to show. `code` carries the socket
 * error (`ECONNRESET` ...), by which the SDK's retry strategy tells a transient failure.
 */
class StsTransportError extends Error {
  override readonly name = 'StsTransportError';
  readonly code: string | undefined;

  constructor(message: string, code?: string) {
    super(message);
    this.code = code;
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
      if (body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array)) {
        throw new StsTransportError('STS request body is not a string'); // the Query protocol sends a form
      }
      const url = requestUrl(request);
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
        const cause = (error as { cause?: { code?: unknown } })?.cause?.code;
        const code = typeof cause === 'string' && /^[A-Z0-9_]{2,40}$/.test(cause) ? cause : undefined;
        throw new StsTransportError(`STS request to ${new URL(url).origin} failed${code === undefined ? '' : ` (${code})`}`, code);
      }
      const responseHeaders: Record<string, string> = {};
      response.headers.forEach((value, name) => {
        responseHeaders[name] = value;
      });
      if (response.status >= 300 && response.status < 400) {
        await response.body?.cancel().catch(() => undefined);
        throw new StsTransportError(`STS answered a redirect (HTTP ${response.status}); only the configured endpoint is called`);
      }
      return { response: { statusCode: response.status, reason: response.statusText, headers: responseHeaders, body: await readStsBody(response) } };
    },
    updateHttpClientConfig() {},
    httpHandlerConfigs: () => ({}),
    destroy() {},
  };
}

function clean(text: string, secrets: readonly string[]): string {
  let redacted = text;
  // Redact before truncating, so no prefix of a secret survives the cut.
  for (const secret of secrets) if (secret.length >= 8) redacted = redacted.split(secret).join('[redacted]');
  const flat = redacted.replace(/[\x00-\x1F\x7F]+/g, ' ').trim();
  return flat.length > MAX_MESSAGE_LENGTH ? `${flat.slice(0, MAX_MESSAGE_LENGTH - 1)}…` : flat;
}

function fail(message: string): CredentialError {
  return new CredentialError('credential_provider_error', message, { provider: AWS_STS_TYPE });
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

const UNREADABLE_CODES = new Set(['Unknown', 'UnknownError', 'Error']);

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

export function toCredentialError(error: unknown, options: { secrets: readonly string[]; timeoutMs: number; deadline: AbortSignal }): CredentialError {
  if (error instanceof CredentialError) return error;
  if (options.deadline.aborted) return fail(`STS request timed out after ${options.timeoutMs} ms`);
  if (error instanceof StsTransportError) return fail(clean(error.message, options.secrets));
  if (error instanceof TesseraError) return fail(`STS request failed: ${clean(error.message, options.secrets)}`);
  if (isServiceError(error)) {
    const status = error.$metadata.httpStatusCode;
    const name = MODELED_CODES[error.name] ?? error.name;
    // An answer that is not STS's XML (a proxy's HTML page ...) has no code worth showing:
    // the SDK names it `Unknown` (or `UnknownError`).
    if (!ERROR_CODE.test(name) || UNREADABLE_CODES.has(name) || (status !== undefined && status >= 200 && status < 300)) {
      return fail(`STS answered HTTP ${status ?? 'without a status'} without a readable result`);
    }
    const code = name;
    const message = typeof error.message === 'string' && error.message.length > 0 && !UNREADABLE_CODES.has(error.message) ? `: ${clean(error.message, options.secrets)}` : '';
    const requestId = typeof error.$metadata.requestId === 'string' && /^[A-Za-z0-9-]{1,64}$/.test(error.$metadata.requestId) ? `, request id ${error.$metadata.requestId}` : '';
    return fail(`STS refused AssumeRoleWithWebIdentity: ${code}${message} (HTTP ${status ?? '?'}${requestId})`);
  }
  return fail('STS request failed');
}

/** Calls AssumeRoleWithWebIdentity once; throws `CredentialError`. */
export async function assumeRoleWithWebIdentity(options: AssumeRoleOptions): Promise<StsCredentials> {
  const { config, roleSessionName, webIdentityToken } = options;
  const deadline = AbortSignal.timeout(config.timeoutMs);
  const secrets = [webIdentityToken];
  let client: { destroy(): void } | undefined;
  try {
    const { STSClient, AssumeRoleWithWebIdentityCommand } = await import('@aws-sdk/client-sts');
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
    throw toCredentialError(error, { secrets, timeoutMs: config.timeoutMs, deadline });
  } finally {
    client?.destroy();
  }
}

async function readStsBody(response: Response): Promise<Uint8Array> {
  const body = await readCapped(response, MAX_RESPONSE_BYTES);
  if (body === undefined) throw new StsTransportError(`STS response larger than ${MAX_RESPONSE_BYTES} bytes`);
  return body;
}
