/**
 * Configuration of the `aws-iam` trust provider (what both halves share is in evidence.ts).
 *
 * The provider verifies a SigV4-signed `sts:GetCallerIdentity` request made by a workload: the
 * cloud forwards it to STS, and STS says who signed it. `stsEndpoint` is the only place the
 * cloud ever forwards such a request to; the evidence's `url` must name it exactly.
 *
 * `parseAwsIamConfig` is shared by `validate` (admin writes) and `verify`, so an unvalidated
 * config fails closed with the same messages.
 */
import { Type, type Static } from 'typebox';
import { parseEndpointUrl } from '../../http/endpoint-url.js';
import { stsHostRegion } from './evidence.js';

export const DEFAULT_AWS_IAM_MAX_SKEW_SECONDS = 300;
/** STS itself refuses a signature more than 15 minutes off. */
export const MAX_AWS_IAM_MAX_SKEW_SECONDS = 900;
export const DEFAULT_AWS_IAM_TIMEOUT_MS = 5000;

const ACCOUNT_ID_PATTERN = '^[0-9]{12}$';
const REGION_PATTERN = '^[a-z]{2}(-[a-z0-9]+){1,3}-[0-9]{1,2}$';
/**
 * A role ARN without a path (an assumed-role ARN never shows the path), `*` allowed in the
 * role name: `arn:aws:iam::123456789012:role/ci-*`.
 */
const ROLE_ARN_PATTERN = '^arn:aws[a-z-]{0,16}:iam::[0-9]{12}:role/[\\w+=,.@*-]{1,64}$';
/** What the schema lets through: paths too, so that `validate` can say why they are refused. */
const ROLE_ARN_SCHEMA_PATTERN = '^arn:aws[a-z-]{0,16}:iam::[0-9]{12}:role/[\\w+=,.@*/-]{1,200}$';

export const awsIamConfigSchema = Type.Object(
  {
    stsEndpoint: Type.String({
      minLength: 1,
      maxLength: 2048,
      description:
        'The STS endpoint the workloads sign for, e.g. https://sts.eu-west-1.amazonaws.com/ (https; http only on a loopback host). The only URL the cloud forwards signed requests to.',
    }),
    region: Type.Optional(
      Type.String({
        pattern: REGION_PATTERN,
        maxLength: 32,
        description: "Region of the signatures' credential scope. Default: the region of an AWS STS host (us-east-1 for sts.amazonaws.com).",
      }),
    ),
    accountIds: Type.Optional(
      Type.Array(Type.String({ pattern: ACCOUNT_ID_PATTERN }), {
        minItems: 1,
        maxItems: 100,
        uniqueItems: true,
        description: 'Accept callers of these AWS accounts only.',
      }),
    ),
    roleArns: Type.Optional(
      Type.Array(Type.String({ pattern: ROLE_ARN_SCHEMA_PATTERN, maxLength: 256 }), {
        minItems: 1,
        maxItems: 100,
        uniqueItems: true,
        description: 'Accept sessions of these IAM roles only (no role path; `*` matches any characters in the role name). Callers that are not a role session are refused.',
      }),
    ),
    maxSkewSeconds: Type.Optional(
      Type.Integer({
        minimum: 30,
        maximum: MAX_AWS_IAM_MAX_SKEW_SECONDS,
        default: DEFAULT_AWS_IAM_MAX_SKEW_SECONDS,
        description: "How far the request's X-Amz-Date may be from the cloud's clock.",
      }),
    ),
    timeoutMs: Type.Optional(
      Type.Integer({ minimum: 100, maximum: 30_000, default: DEFAULT_AWS_IAM_TIMEOUT_MS, description: 'Deadline of the call to STS.' }),
    ),
  },
  { additionalProperties: false },
);

export type AwsIamConfig = Static<typeof awsIamConfigSchema>;

export interface ParsedAwsIamConfig {
  /** The endpoint, normalised (`new URL(...).href`): evidence must name exactly this URL. */
  stsEndpoint: string;
  /** `host[:port]` of the endpoint, as the signed `host` header must hold it. */
  host: string;
  region: string;
  accountIds: ReadonlySet<string> | undefined;
  /** One anchored expression per configured role ARN (`*` → any role-name characters). */
  roleArns: readonly RegExp[] | undefined;
  maxSkewSeconds: number;
  timeoutMs: number;
}

const isWholeNumberIn = (value: unknown, min: number, max: number): value is number =>
  Number.isInteger(value) && (value as number) >= min && (value as number) <= max;

/** `arn:aws:iam::1:role/ci-*` → /^arn:aws:iam::1:role\/ci-[\w+=,.@-]*$/ */
function roleArnMatcher(pattern: string): RegExp {
  const escaped = pattern.replace(/[.*+?^${}()|[\]\\/]/g, (char) => (char === '*' ? '[\\w+=,.@-]*' : `\\${char}`));
  return new RegExp(`^${escaped}$`);
}

/** Checks a config (schema defaults may be missing) and returns it normalised, or its problems. */
export function parseAwsIamConfig(config: AwsIamConfig): { config: ParsedAwsIamConfig } | { issues: string[] } {
  const input: Partial<AwsIamConfig> = typeof config === 'object' && config !== null ? config : {};
  const issues: string[] = [];

  let endpoint: URL | undefined;
  if (input.stsEndpoint === undefined) {
    issues.push('stsEndpoint is required');
  } else {
    const parsed = parseEndpointUrl('stsEndpoint', input.stsEndpoint);
    if (typeof parsed === 'string') issues.push(parsed);
    else if (parsed.search !== '' || parsed.href.includes('?')) issues.push('stsEndpoint must not contain a query');
    else endpoint = parsed;
  }

  let region = '';
  const hostRegion = endpoint === undefined ? undefined : stsHostRegion(endpoint.hostname);
  if (input.region !== undefined) {
    if (typeof input.region !== 'string' || !new RegExp(REGION_PATTERN).test(input.region)) issues.push('region must be an AWS region such as us-east-1');
    else if (hostRegion !== undefined && hostRegion !== input.region) issues.push('region does not match the region of stsEndpoint');
    else region = input.region;
  } else if (hostRegion !== undefined) {
    region = hostRegion;
  } else if (endpoint !== undefined) {
    issues.push('region is required when stsEndpoint is not an AWS STS host');
  }

  let accountIds: ReadonlySet<string> | undefined;
  if (input.accountIds !== undefined) {
    const pattern = new RegExp(ACCOUNT_ID_PATTERN);
    if (!Array.isArray(input.accountIds) || input.accountIds.length === 0 || !input.accountIds.every((id) => typeof id === 'string' && pattern.test(id))) {
      issues.push('accountIds must be a non-empty list of 12-digit AWS account ids');
    } else {
      accountIds = new Set(input.accountIds);
    }
  }

  let roleArns: RegExp[] | undefined;
  if (input.roleArns !== undefined) {
    const pattern = new RegExp(ROLE_ARN_PATTERN);
    if (!Array.isArray(input.roleArns) || input.roleArns.length === 0) {
      issues.push('roleArns must be a non-empty list of IAM role ARNs');
    } else {
      roleArns = [];
      input.roleArns.forEach((arn, index) => {
        if (typeof arn === 'string' && /^arn:aws[a-z-]*:iam::[0-9]{12}:role\/.+\//.test(arn)) {
          issues.push(`roleArns[${index}] must not have a role path: an assumed-role ARN names the role without it (arn:aws:iam::<account>:role/<name>)`);
        } else if (typeof arn !== 'string' || arn.length > 256 || !pattern.test(arn)) {
          issues.push(`roleArns[${index}] must be an IAM role ARN (arn:aws:iam::<account>:role/<name>, * allowed in the name)`);
        } else {
          roleArns!.push(roleArnMatcher(arn));
        }
      });
    }
  }

  const maxSkewSeconds = input.maxSkewSeconds ?? DEFAULT_AWS_IAM_MAX_SKEW_SECONDS;
  if (!isWholeNumberIn(maxSkewSeconds, 30, MAX_AWS_IAM_MAX_SKEW_SECONDS)) {
    issues.push(`maxSkewSeconds must be a whole number from 30 to ${MAX_AWS_IAM_MAX_SKEW_SECONDS}`);
  }
  const timeoutMs = input.timeoutMs ?? DEFAULT_AWS_IAM_TIMEOUT_MS;
  if (!isWholeNumberIn(timeoutMs, 100, 30_000)) issues.push('timeoutMs must be a whole number from 100 to 30000');

  if (issues.length > 0 || endpoint === undefined) return { issues };
  return { config: { stsEndpoint: endpoint.href, host: endpoint.host, region, accountIds, roleArns, maxSkewSeconds, timeoutMs } };
}

export function validateAwsIamConfig(config: AwsIamConfig): string[] {
  const parsed = parseAwsIamConfig(config);
  return 'issues' in parsed ? parsed.issues : [];
}
