/**
 * Collector half of `aws-iam`: signs (but does not send) an `sts:GetCallerIdentity` request
 * with the workload's ambient AWS credentials, and hands the signed request to the cloud,
 * which forwards it to STS and learns from STS who signed it.
 *
 *   POST <STS endpoint>            Action=GetCallerIdentity&Version=2011-06-15
 *   content-type: application/x-www-form-urlencoded; charset=utf-8
 *   x-tessera-server-id: <the cloud's URL>        signed: binds it to this Tessera cloud
 *   x-tessera-nonce: <nonce from the cloud>       signed: single use, bound to the SDK's key
 *   x-amz-date, x-amz-security-token, authorization (AWS4-HMAC-SHA256, service sts)
 *
 * Credentials come from the AWS SDK's default chain, `fromNodeProviderChain()` (environment,
 * IRSA web identity token file, SSO and shared files, ECS / EKS Pod Identity container
 * endpoint, EC2 instance role), loaded on first use. `@aws-sdk/credential-providers` and
 * `@smithy/signature-v4` are optional dependencies, installed only by workloads that use this
 * collector: without them, collecting fails with a `missing_dependency` error naming the
 * `npm install` to run. The secret key never leaves the process:
 * the evidence holds the access key id, the session token (which STS needs to check the
 * signature; it is useless without the secret key) and the signature.
 *
 * `detect()` only looks at environment variables, never at the network (no IMDS probe): it
 * is true when the default chain would find credentials from the environment, a web identity
 * token file, a container endpoint or Lambda, or when `TESSERA_AWS_IAM=true`. EC2 instance
 * roles therefore need `TESSERA_AWS_IAM=true` or an explicit collectors list.
 */
import { type CollectContext, type Evidence, type EvidenceCollector, defineEvidenceCollector } from '../../collector-contract.js';
import { parseEndpointUrl } from '../../http/endpoint-url.js';
import { ConfigError, TesseraError, TrustError } from '../../errors.js';
import { loadOptionalDependency } from '../../optional-dependency.js';
import { NodeSha256 } from './collect-sha256.js';
import {
  AWS_IAM_CONTENT_TYPE,
  AWS_IAM_EVIDENCE_TYPE,
  AWS_IAM_NONCE_HEADER,
  AWS_IAM_REQUEST_BODY,
  AWS_IAM_SERVER_ID_HEADER,
  AWS_IAM_TYPE,
  regionalStsEndpoint,
  stsHostRegion,
} from './evidence.js';

/** STS endpoint the request is signed for (default: the regional one, else the global one). */
export const AWS_IAM_STS_ENDPOINT_ENV = 'TESSERA_AWS_STS_ENDPOINT';
/** `true`: the collector is active whatever the environment says (EC2 instance roles); `false`: it is off. */
export const AWS_IAM_ENABLE_ENV = 'TESSERA_AWS_IAM';
export const AWS_IAM_GLOBAL_STS_ENDPOINT = 'https://sts.amazonaws.com/';

/** Variables by which the default chain finds credentials without a network probe. */
const CREDENTIAL_HINTS: ReadonlyArray<readonly string[]> = [
  ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'],
  ['AWS_WEB_IDENTITY_TOKEN_FILE'],
  ['AWS_CONTAINER_CREDENTIALS_RELATIVE_URI'],
  ['AWS_CONTAINER_CREDENTIALS_FULL_URI'],
  ['AWS_LAMBDA_FUNCTION_NAME'],
];

const REGION = /^[a-z]{2}(-[a-z0-9]+){1,3}-[0-9]{1,2}$/;
/** Header-safe: visible ASCII, as the cloud's nonces and URLs are. */
const HEADER_VALUE = /^[\x21-\x7E]+$/;
const MAX_NONCE_LENGTH = 4096;

export interface AwsIamCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface AwsIamCollectorOptions {
  /** STS endpoint to sign for; default `$TESSERA_AWS_STS_ENDPOINT`, else the regional endpoint of the region, else `https://sts.amazonaws.com/`. Must be the trust provider's `stsEndpoint`. */
  stsEndpoint?: string;
  /** Signing region; default the region of an AWS STS endpoint host, else `$AWS_REGION` / `$AWS_DEFAULT_REGION`, else `us-east-1`. */
  region?: string;
  /**
   * Environment for `TESSERA_AWS_STS_ENDPOINT`, `TESSERA_AWS_IAM`, `AWS_REGION`,
   * `AWS_DEFAULT_REGION`, the detection hints and, when given, static keys
   * (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`). Default `process.env`.
   * The rest of the default chain (web identity, container, instance role ...) reads `process.env`.
   */
  env?: Record<string, string | undefined>;
  /** Credentials to sign with, instead of the default chain. */
  credentials?: () => Promise<AwsIamCredentials>;
  /** Clock of the signature (tests). */
  now?: () => Date;
}

/** What this collector loads at its first collect; a workload that uses it installs them. */
const AWS_PACKAGES = ['@aws-sdk/credential-providers', '@smithy/signature-v4'] as const;
type CredentialProviders = typeof import('@aws-sdk/credential-providers');
type SignatureV4Module = typeof import('@smithy/signature-v4');

function loadAwsPackage<T>(name: (typeof AWS_PACKAGES)[number]): Promise<T> {
  return loadOptionalDependency<T>(name, { feature: 'the aws-iam evidence collector', install: AWS_PACKAGES });
}

function fail(code: 'trust_provider_error' | 'invalid_config', message: string): TrustError {
  return new TrustError(code, message, { provider: AWS_IAM_TYPE });
}

interface Target {
  url: URL;
  region: string;
}

/** Where to sign for, and the region: options, then environment, then AWS's defaults. */
function resolveTarget(options: AwsIamCollectorOptions, env: Record<string, string | undefined>): Target {
  const envRegion = env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim() || undefined;
  if (options.region !== undefined && !REGION.test(options.region)) throw fail('invalid_config', 'region must be an AWS region such as us-east-1');
  if (options.region === undefined && envRegion !== undefined && !REGION.test(envRegion)) {
    throw fail('invalid_config', 'AWS_REGION (or AWS_DEFAULT_REGION) must be an AWS region such as us-east-1');
  }
  const fromEnv = env[AWS_IAM_STS_ENDPOINT_ENV]?.trim() || undefined;
  const [source, value] =
    options.stsEndpoint !== undefined
      ? ['stsEndpoint', options.stsEndpoint]
      : fromEnv !== undefined
        ? [AWS_IAM_STS_ENDPOINT_ENV, fromEnv]
        : ['stsEndpoint', (options.region ?? envRegion) === undefined ? AWS_IAM_GLOBAL_STS_ENDPOINT : regionalStsEndpoint((options.region ?? envRegion)!)];
  const parsed = parseEndpointUrl(source, value);
  if (typeof parsed === 'string') throw fail('invalid_config', parsed);
  if (parsed.search !== '' || parsed.href.includes('?')) throw fail('invalid_config', `${source} must not contain a query`);
  return { url: parsed, region: options.region ?? stsHostRegion(parsed.hostname) ?? envRegion ?? 'us-east-1' };
}

function isActive(env: Record<string, string | undefined>): boolean {
  const flag = env[AWS_IAM_ENABLE_ENV]?.trim().toLowerCase();
  if (flag === 'false') return false;
  if (flag === 'true') return true;
  return CREDENTIAL_HINTS.some((names) => names.every((name) => (env[name] ?? '').trim() !== ''));
}

const nameOf = (error: unknown): string => {
  const name = (error as { name?: unknown } | null)?.name;
  return typeof name === 'string' && /^[A-Za-z][A-Za-z0-9]{0,63}$/.test(name) ? ` (${name})` : '';
};

export function createAwsIamCollector(options: AwsIamCollectorOptions = {}): EvidenceCollector {
  // Resolved on each call, so a variable set after start-up (tests, wrappers) is honoured.
  const env = () => options.env ?? process.env;
  const now = options.now ?? (() => new Date());
  let chain: Promise<() => Promise<AwsIamCredentials>> | undefined;

  async function credentials(): Promise<AwsIamCredentials> {
    if (options.credentials !== undefined) return options.credentials();
    const given = options.env;
    if (given?.AWS_ACCESS_KEY_ID && given.AWS_SECRET_ACCESS_KEY) {
      return { accessKeyId: given.AWS_ACCESS_KEY_ID, secretAccessKey: given.AWS_SECRET_ACCESS_KEY, ...(given.AWS_SESSION_TOKEN ? { sessionToken: given.AWS_SESSION_TOKEN } : {}) };
    }
    // Memoised by the AWS SDK: refreshed within five minutes of expiry.
    chain ??= loadAwsPackage<CredentialProviders>('@aws-sdk/credential-providers').then(({ fromNodeProviderChain }) => fromNodeProviderChain());
    chain.catch(() => {
      chain = undefined;
    });
    return (await chain)();
  }

  return defineEvidenceCollector({
    specificationVersion: 'v1',
    type: AWS_IAM_TYPE,
    evidenceType: AWS_IAM_EVIDENCE_TYPE,
    async detect() {
      if (options.credentials !== undefined) return true;
      return isActive(env());
    },
    async collect(ctx: CollectContext): Promise<Evidence> {
      const target = resolveTarget(options, env());
      if (ctx.nonce === undefined) {
        throw fail('trust_provider_error', 'aws-iam needs a nonce from the cloud (POST /edge/v1/challenge), and this SDK offers none: upgrade the SDK');
      }
      if (!HEADER_VALUE.test(ctx.audience)) throw fail('invalid_config', 'the cloud URL cannot be sent as a header');
      // Before anything is asked of the cloud: a package to install is said at once.
      const { SignatureV4 } = await loadAwsPackage<SignatureV4Module>('@smithy/signature-v4');

      let identity: AwsIamCredentials;
      try {
        identity = await credentials();
      } catch (error) {
        if (error instanceof ConfigError) throw error; // a package to install, not an absence of credentials
        throw fail('trust_provider_error', `no AWS credentials: the AWS default credential chain found none${nameOf(error)}`);
      }
      if (typeof identity?.accessKeyId !== 'string' || identity.accessKeyId === '' || typeof identity.secretAccessKey !== 'string' || identity.secretAccessKey === '') {
        throw fail('trust_provider_error', 'no AWS credentials: the credentials found are incomplete');
      }
      ctx.signal?.throwIfAborted();

      let nonce: string;
      try {
        nonce = await ctx.nonce();
      } catch (error) {
        if (error instanceof TesseraError) throw error;
        throw fail('trust_provider_error', 'could not get a nonce from the cloud');
      }
      if (typeof nonce !== 'string' || nonce.length > MAX_NONCE_LENGTH || !HEADER_VALUE.test(nonce)) {
        throw fail('trust_provider_error', 'the cloud gave a nonce that cannot be sent as a header');
      }

      const signer = new SignatureV4({
        service: 'sts',
        region: target.region,
        credentials: {
          accessKeyId: identity.accessKeyId,
          secretAccessKey: identity.secretAccessKey,
          ...(identity.sessionToken ? { sessionToken: identity.sessionToken } : {}),
        },
        sha256: NodeSha256,
        applyChecksum: false,
      });
      const { url } = target;
      const signed = await signer.sign(
        {
          method: 'POST',
          protocol: url.protocol,
          hostname: url.hostname,
          ...(url.port === '' ? {} : { port: Number(url.port) }),
          path: url.pathname,
          query: {},
          headers: {
            host: url.host,
            'content-type': AWS_IAM_CONTENT_TYPE,
            [AWS_IAM_SERVER_ID_HEADER]: ctx.audience,
            [AWS_IAM_NONCE_HEADER]: nonce,
          },
          body: AWS_IAM_REQUEST_BODY,
        },
        { signingDate: now() },
      );
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(signed.headers)) headers[name.toLowerCase()] = String(value);
      // The binding headers are what makes the request useless elsewhere: never send one unsigned.
      const signedHeaders = /SignedHeaders=([^,\s]+)/.exec(headers.authorization ?? '')?.[1]?.split(';') ?? [];
      if (![AWS_IAM_SERVER_ID_HEADER, AWS_IAM_NONCE_HEADER, 'host', 'x-amz-date'].every((name) => signedHeaders.includes(name))) {
        throw fail('trust_provider_error', 'the AWS signer did not sign the binding headers');
      }
      return { type: AWS_IAM_EVIDENCE_TYPE, method: 'POST', url: url.href, headers, body: AWS_IAM_REQUEST_BODY };
    },
  });
}

/**
 * The built-in instance: active when the environment shows AWS credentials (keys, a web
 * identity token file, a container endpoint, Lambda) or `TESSERA_AWS_IAM=true`.
 */
export const awsIamCollector = /* @__PURE__ */ createAwsIamCollector();
