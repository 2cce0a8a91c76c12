/**
 * Collector half of `aws-ec2-instance-identity`: reads the instance identity document and
 * its RSA-2048 PKCS#7 signature from the EC2 instance metadata service, IMDSv2 only:
 *
 *   PUT /latest/api/token                                (X-aws-ec2-metadata-token-ttl-seconds)
 *   GET /latest/dynamic/instance-identity/document       (X-aws-ec2-metadata-token)
 *   GET /latest/dynamic/instance-identity/rsa2048        (X-aws-ec2-metadata-token)
 *
 * There is no fallback to IMDSv1: a failed token request fails the collection. The session
 * token is a credential of the instance: it goes only in the header, never into an error.
 *
 * `detect()` is one token request with a 300 ms deadline, so it is fast and silent off EC2
 * (a link-local address that nothing answers); `AWS_EC2_METADATA_DISABLED=true` turns the
 * collector off without any request, as it does for the AWS SDKs.
 *
 * In a container on EC2 the token response needs two network hops: set the instance's
 * `HttpPutResponseHopLimit` to 2, or the token request times out.
 */
import { type EvidenceCollector, defineEvidenceCollector } from '../../collector-contract.js';
import { TrustError } from '../../errors.js';
import { fetchBounded, KeySourceError } from '../../http/bounded-fetch.js';
import { AWS_EC2_INSTANCE_IDENTITY_EVIDENCE_TYPE, AWS_EC2_INSTANCE_IDENTITY_TYPE, MAX_DOCUMENT_BYTES, MAX_PKCS7_CHARS } from './evidence.js';

export const AWS_IMDS_ENDPOINT_ENV = 'TESSERA_AWS_IMDS_ENDPOINT';
export const AWS_EC2_METADATA_DISABLED_ENV = 'AWS_EC2_METADATA_DISABLED';
export const DEFAULT_AWS_IMDS_ENDPOINT = 'http://169.254.169.254';
const IMDS_TOKEN_PATH = '/latest/api/token';
const IMDS_DOCUMENT_PATH = '/latest/dynamic/instance-identity/document';
const IMDS_RSA2048_PATH = '/latest/dynamic/instance-identity/rsa2048';

/** Lifetime asked for the session token: it is used at once, for two requests. */
const TOKEN_TTL_SECONDS = 60;
const MAX_TOKEN_BYTES = 4096;
/** Visible ASCII only: the token goes into a header. */
const TOKEN_PATTERN = /^[\x21-\x7E]+$/;

export interface AwsEc2InstanceIdentityCollectorOptions {
  /** IMDS origin; default `$TESSERA_AWS_IMDS_ENDPOINT`, else `http://169.254.169.254`. */
  endpoint?: string;
  /** Environment to read `TESSERA_AWS_IMDS_ENDPOINT` and `AWS_EC2_METADATA_DISABLED` from (default `process.env`). */
  env?: Record<string, string | undefined>;
  /** Fetch for the IMDS requests (default the global fetch). */
  fetch?: typeof fetch;
  /** Deadline of one collection (three requests), default 3000 ms. */
  timeoutMs?: number;
  /** Deadline of the detection request, default 300 ms. */
  detectTimeoutMs?: number;
}

function fail(code: 'trust_provider_error' | 'evidence_invalid' | 'invalid_config', message: string): TrustError {
  return new TrustError(code, message, { provider: AWS_EC2_INSTANCE_IDENTITY_TYPE });
}

/** The IMDS origin (`http://host[:port]`), or the problem naming where the value came from. */
function parseImdsEndpoint(value: string, source: string): { origin: string } | { issue: string } {
  if (!URL.canParse(value)) return { issue: `${source} must be an absolute http(s) URL` };
  const url = new URL(value);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { issue: `${source} must be an absolute http(s) URL` };
  if (url.username !== '' || url.password !== '') return { issue: `${source} must not contain credentials` };
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    return { issue: `${source} must be an origin, without a path or query` };
  }
  return { origin: url.origin };
}

function isDisabled(env: Record<string, string | undefined>): boolean {
  return (env[AWS_EC2_METADATA_DISABLED_ENV] ?? '').trim().toLowerCase() === 'true';
}

/** PUTs for a session token; throws `KeySourceError` (network, status, size) without the token. */
async function requestToken(origin: string, fetchFn: typeof fetch, signal: AbortSignal): Promise<string> {
  const where = `${origin}${IMDS_TOKEN_PATH}`;
  let response: Response;
  try {
    response = await fetchFn(where, {
      method: 'PUT',
      headers: { 'x-aws-ec2-metadata-token-ttl-seconds': String(TOKEN_TTL_SECONDS) },
      redirect: 'manual',
      signal,
    });
  } catch {
    throw new KeySourceError(signal.aborted ? `IMDSv2 token request to ${where} timed out` : `IMDSv2 token request to ${where} failed: network error`);
  }
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    throw new KeySourceError(`IMDSv2 token request to ${where} failed: HTTP ${response.status}`);
  }
  let token: string;
  try {
    const bytes = new Uint8Array(await response.arrayBuffer());
    token = bytes.byteLength > MAX_TOKEN_BYTES ? '' : new TextDecoder('utf-8', { fatal: true }).decode(bytes).trim();
  } catch {
    throw new KeySourceError(signal.aborted ? `IMDSv2 token request to ${where} timed out` : `IMDSv2 token request to ${where} failed: network error`);
  }
  if (!TOKEN_PATTERN.test(token)) throw new KeySourceError(`IMDSv2 token request to ${where} returned no usable token`);
  return token;
}

async function getText(url: string, token: string, what: string, maxBytes: number, fetchFn: typeof fetch, signal: AbortSignal): Promise<string> {
  const bytes = await fetchBounded(url, { 'x-aws-ec2-metadata-token': token }, { fetch: fetchFn, what, maxBytes, signal });
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new KeySourceError(`${what} is not UTF-8`);
  }
}

export function createAwsEc2InstanceIdentityCollector(options: AwsEc2InstanceIdentityCollectorOptions = {}): EvidenceCollector {
  // Resolved on each call, so a variable set after start-up (tests, wrappers) is honoured.
  const env = () => options.env ?? process.env;
  const endpoint = () => {
    if (options.endpoint !== undefined) return parseImdsEndpoint(options.endpoint, 'endpoint');
    const fromEnv = env()[AWS_IMDS_ENDPOINT_ENV];
    return fromEnv ? parseImdsEndpoint(fromEnv, AWS_IMDS_ENDPOINT_ENV) : { origin: DEFAULT_AWS_IMDS_ENDPOINT };
  };
  const fetchFn = () => options.fetch ?? fetch;

  return defineEvidenceCollector({
    specificationVersion: 'v1',
    type: AWS_EC2_INSTANCE_IDENTITY_TYPE,
    evidenceType: AWS_EC2_INSTANCE_IDENTITY_EVIDENCE_TYPE,
    async detect() {
      if (isDisabled(env())) return false;
      const resolved = endpoint();
      if ('issue' in resolved) return false;
      try {
        await requestToken(resolved.origin, fetchFn(), AbortSignal.timeout(options.detectTimeoutMs ?? 300));
        return true;
      } catch {
        return false; // off EC2, or IMDS turned off: quietly not here
      }
    },
    async collect(ctx) {
      if (isDisabled(env())) throw fail('invalid_config', `${AWS_EC2_METADATA_DISABLED_ENV} is true: instance metadata is off`);
      const resolved = endpoint();
      if ('issue' in resolved) throw fail('invalid_config', resolved.issue);
      const timeout = AbortSignal.timeout(options.timeoutMs ?? 3000);
      const signal = ctx.signal === undefined ? timeout : AbortSignal.any([timeout, ctx.signal]);
      const { origin } = resolved;
      let document: string;
      let pkcs7: string;
      try {
        const token = await requestToken(origin, fetchFn(), signal);
        [document, pkcs7] = await Promise.all([
          getText(`${origin}${IMDS_DOCUMENT_PATH}`, token, 'instance identity document', MAX_DOCUMENT_BYTES, fetchFn(), signal),
          getText(`${origin}${IMDS_RSA2048_PATH}`, token, 'instance identity RSA-2048 signature', MAX_PKCS7_CHARS, fetchFn(), signal),
        ]);
      } catch (error) {
        if (error instanceof KeySourceError) throw fail('trust_provider_error', error.message);
        throw fail('trust_provider_error', 'instance metadata request failed');
      }
      // The document is signed byte for byte: sent exactly as IMDS served it.
      if (document.length === 0) throw fail('evidence_invalid', 'IMDS returned an empty instance identity document');
      const signature = pkcs7.replace(/\s+/g, '');
      if (signature.length === 0) throw fail('evidence_invalid', 'IMDS returned an empty RSA-2048 signature');
      return { type: AWS_EC2_INSTANCE_IDENTITY_EVIDENCE_TYPE, document, pkcs7: signature };
    },
  });
}

/** The built-in instance: active on EC2 (IMDSv2 answers), unless `AWS_EC2_METADATA_DISABLED=true`. */
export const awsEc2InstanceIdentityCollector = /* @__PURE__ */ createAwsEc2InstanceIdentityCollector();
