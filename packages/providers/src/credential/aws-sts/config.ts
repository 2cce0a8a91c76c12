/**
 * Configuration of the `aws-sts` credential provider: the role to assume with
 * `AssumeRoleWithWebIdentity`, the session's name, duration and optional inline policy, and
 * where STS is. `parseAwsStsConfig` is shared by `validate` (admin writes) and `issue`, so an
 * unvalidated config fails closed with the same messages.
 *
 * The STS endpoint must be https (plain http only on a loopback host, for tests): the signed
 * web identity token travels in the request.
 */
import { createHash } from 'node:crypto';
import { Type, type Static } from 'typebox';
import { destination } from '../../destination.js';
import { parseEndpointUrl } from '../../http/endpoint-url.js';

export const AWS_STS_TYPE = 'aws-sts';

export const DEFAULT_AWS_STS_AUDIENCE = 'sts.amazonaws.com';
export const DEFAULT_AWS_ROLE_SESSION_NAME = 'tessera-{clientWorkloadName}';
export const DEFAULT_DURATION_SECONDS = 3600;
/** AWS's bounds for AssumeRoleWithWebIdentity; the role's MaxSessionDuration may be lower. */
export const MIN_DURATION_SECONDS = 900;
export const MAX_DURATION_SECONDS = 43_200;
/** AWS: "the plaintext that you use for both inline and managed session policies can't exceed 2,048 characters". */
export const MAX_SESSION_POLICY_LENGTH = 2048;

/** `arn:<partition>:iam::<account>:role/<path/>name`; IAM allows `[\w+=,.@-]` and `/` in paths. */
const ROLE_ARN_PATTERN = '^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\\w+=,.@/-]{1,512}$';
const REGION_PATTERN = '^[a-z]{2}(-[a-z0-9]+){1,3}-[0-9]{1,2}$';
/** Literal characters AWS allows in a role session name, and the two placeholders. */
const SESSION_NAME_TEMPLATE_PATTERN = '^([\\w+=,.@-]|\\{clientWorkloadName\\}|\\{clientWorkloadId\\})+$';
const SESSION_NAME_CHARS = /[^\w+=,.@-]/g;
/** Session policy characters AWS accepts: tab, LF, CR and U+0020 to U+00FF. */
const POLICY_CHARS = /^[\t\n\r\u0020-\u00FF]*$/;

export const awsStsConfigSchema = Type.Object(
  {
    roleArn: Type.String({ pattern: ROLE_ARN_PATTERN, maxLength: 2048, description: 'The IAM role to assume.' }),
    // Where the web identity token is sent: the endpoint, or the region's default one.
    region: Type.String({ pattern: REGION_PATTERN, maxLength: 32, description: 'The STS region; also the default endpoint.', ...destination }),
    roleSessionName: Type.Optional(
      Type.String({
        pattern: SESSION_NAME_TEMPLATE_PATTERN,
        maxLength: 256,
        default: DEFAULT_AWS_ROLE_SESSION_NAME,
        description: 'Template of the role session name; `{clientWorkloadName}` and `{clientWorkloadId}` are replaced.',
      }),
    ),
    durationSeconds: Type.Optional(
      Type.Integer({ minimum: MIN_DURATION_SECONDS, maximum: MAX_DURATION_SECONDS, default: DEFAULT_DURATION_SECONDS }),
    ),
    policy: Type.Optional(
      Type.Union([Type.String({ minLength: 2, maxLength: 10_240 }), Type.Record(Type.String(), Type.Unknown())], {
        description: 'Inline session policy, as a JSON string or an object; the session gets at most what role and policy both allow.',
      }),
    ),
    audience: Type.Optional(
      Type.String({ minLength: 1, maxLength: 255, default: DEFAULT_AWS_STS_AUDIENCE, description: '`aud` of the web identity token: a client ID of the IAM OIDC provider.' }),
    ),
    stsEndpoint: Type.Optional(
      Type.String({ minLength: 1, maxLength: 2048, description: 'Default: https://sts.<region>.amazonaws.com (.com.cn in China).', ...destination }),
    ),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 60_000, default: 5000, description: 'Deadline of the STS exchange, retries included.' })),
  },
  { additionalProperties: false },
);

export type AwsStsConfig = Static<typeof awsStsConfigSchema>;

/** No secrets: the cloud's own signing key stands in for them. */
export const awsStsSecretsSchema = Type.Object({}, { additionalProperties: false });
export type AwsStsSecrets = Static<typeof awsStsSecretsSchema>;

export interface ParsedAwsStsConfig {
  roleArn: string;
  region: string;
  roleSessionName: string;
  durationSeconds: number;
  /** The inline session policy, minified JSON, or undefined. */
  policy: string | undefined;
  audience: string;
  /** The STS endpoint URL (configured or the regional default). */
  stsEndpoint: string;
  timeoutMs: number;
}

/** The regional STS endpoint: `.amazonaws.com.cn` for the China regions. */
export function defaultStsEndpoint(region: string): string {
  return `https://sts.${region}.${region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'}`;
}

function parsePolicy(value: unknown, issues: string[]): string | undefined {
  if (value === undefined) return undefined;
  let document: unknown = value;
  if (typeof value === 'string') {
    try {
      document = JSON.parse(value);
    } catch {
      issues.push('policy must be a JSON policy document');
      return undefined;
    }
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    issues.push('policy must be a JSON object');
    return undefined;
  }
  const minified = JSON.stringify(document);
  if (minified.length > MAX_SESSION_POLICY_LENGTH) issues.push(`policy must not exceed ${MAX_SESSION_POLICY_LENGTH} characters as minified JSON`);
  else if (!POLICY_CHARS.test(minified)) issues.push('policy may only hold characters U+0020 to U+00FF');
  return minified;
}

const isWholeNumberIn = (value: unknown, min: number, max: number): value is number =>
  Number.isInteger(value) && (value as number) >= min && (value as number) <= max;

/** Checks a config (schema defaults may be missing) and returns it normalised, or its problems. */
export function parseAwsStsConfig(config: AwsStsConfig): { config: ParsedAwsStsConfig } | { issues: string[] } {
  const input: Partial<AwsStsConfig> = typeof config === 'object' && config !== null ? config : {};
  const issues: string[] = [];
  const { roleSessionName = DEFAULT_AWS_ROLE_SESSION_NAME, durationSeconds = DEFAULT_DURATION_SECONDS, audience = DEFAULT_AWS_STS_AUDIENCE, timeoutMs = 5000 } = input;

  if (typeof input.roleArn !== 'string' || !new RegExp(ROLE_ARN_PATTERN).test(input.roleArn)) {
    issues.push('roleArn must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)');
  }
  const regionOk = typeof input.region === 'string' && new RegExp(REGION_PATTERN).test(input.region);
  if (!regionOk) issues.push('region must be an AWS region such as us-east-1');
  if (typeof roleSessionName !== 'string' || roleSessionName.length > 256 || !new RegExp(SESSION_NAME_TEMPLATE_PATTERN).test(roleSessionName)) {
    issues.push('roleSessionName may hold letters, digits, _+=,.@- and the placeholders {clientWorkloadName} and {clientWorkloadId}');
  }
  if (!isWholeNumberIn(durationSeconds, MIN_DURATION_SECONDS, MAX_DURATION_SECONDS)) {
    issues.push(`durationSeconds must be a whole number from ${MIN_DURATION_SECONDS} to ${MAX_DURATION_SECONDS}`);
  }
  const policy = parsePolicy(input.policy, issues);
  if (typeof audience !== 'string' || audience.length === 0 || audience.length > 255) issues.push('audience must be 1 to 255 characters');
  let stsEndpoint = regionOk ? defaultStsEndpoint(input.region as string) : '';
  if (input.stsEndpoint !== undefined) {
    const parsed = parseEndpointUrl('stsEndpoint', input.stsEndpoint);
    if (typeof parsed === 'string') issues.push(parsed);
    else if (parsed.search !== '') issues.push('stsEndpoint must not contain a query');
    else stsEndpoint = parsed.href;
  }
  if (!isWholeNumberIn(timeoutMs, 100, 60_000)) issues.push('timeoutMs must be a whole number from 100 to 60000');
  if (issues.length > 0) return { issues };

  return {
    config: {
      roleArn: input.roleArn as string,
      region: input.region as string,
      roleSessionName,
      durationSeconds,
      policy,
      audience,
      stsEndpoint,
      timeoutMs,
    },
  };
}

const MAX_SESSION_NAME = 64;
/** Kept of a long name, before `-` and 8 hex digits of its SHA-256, so cut names stay distinct. */
const KEPT_WHEN_CUT = MAX_SESSION_NAME - 9;

/**
 * The role session name for a client workload: placeholders replaced, characters AWS refuses
 * turned into `-`, at least 2 and at most 64 characters (a longer name is cut and suffixed
 * with a digest of the whole, so two long names sharing a prefix stay apart in CloudTrail).
 */
export function renderRoleSessionName(template: string, clientWorkload: { id: string; name: string }): string {
  const rendered = template
    .replaceAll('{clientWorkloadName}', clientWorkload.name)
    .replaceAll('{clientWorkloadId}', clientWorkload.id)
    .replace(SESSION_NAME_CHARS, '-');
  if (rendered.length <= MAX_SESSION_NAME) return rendered.padEnd(2, '-');
  const digest = createHash('sha256').update(rendered).digest('hex').slice(0, 8);
  return `${rendered.slice(0, KEPT_WHEN_CUT)}-${digest}`;
}
