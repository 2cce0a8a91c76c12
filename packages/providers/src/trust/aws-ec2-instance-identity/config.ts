/**
 * Configuration of the `aws-ec2-instance-identity` trust provider: the AWS public RSA-2048
 * certificates that sign instance identity documents (one per region, as AWS publishes them
 * in the EC2 User Guide, "AWS public certificates for instance identity document signatures"),
 * the longest accepted age of a signature, and optional account and region allow-lists.
 *
 * `parseAwsEc2InstanceIdentityConfig` is shared by `validate` (admin writes) and `verify`, so
 * an unvalidated config fails closed with the same messages. Certificates are checked with
 * node:crypto here (synchronous, no pkijs load on admin writes).
 */
import { X509Certificate } from 'node:crypto';
import { Type, type Static } from 'typebox';
import { DEFAULT_CLOCK_TOLERANCE_SECONDS, MAX_CLOCK_TOLERANCE_SECONDS } from '../jwt/config.js';

export const DEFAULT_AWS_EC2_MAX_AGE_SECONDS = 300;
/** 366 days: the same ceiling as the JWT providers' `maxTokenAgeSeconds`. */
export const MAX_AWS_EC2_MAX_AGE_SECONDS = 31_622_400;
/** Below this an RSA signature is not worth checking; AWS's certificates are RSA-2048. */
const MIN_RSA_MODULUS_BITS = 2048;

const ACCOUNT_ID_PATTERN = '^[0-9]{12}$';
/** `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`, `ap-southeast-4` ... */
const REGION_PATTERN = '^[a-z]{2}(-[a-z0-9]+){1,3}-[0-9]{1,2}$';

export const awsEc2InstanceIdentityConfigSchema = Type.Object(
  {
    certificates: Type.Array(Type.String({ minLength: 1, maxLength: 8192, description: 'One PEM certificate.' }), {
      minItems: 1,
      maxItems: 64,
      uniqueItems: true,
      description: "AWS's public RSA-2048 certificates (PEM) of the regions whose instances may attest.",
    }),
    accountIds: Type.Optional(
      Type.Array(Type.String({ pattern: ACCOUNT_ID_PATTERN }), {
        minItems: 1,
        maxItems: 100,
        uniqueItems: true,
        description: 'Accept documents of these AWS accounts only.',
      }),
    ),
    regions: Type.Optional(
      Type.Array(Type.String({ pattern: REGION_PATTERN, maxLength: 32 }), {
        minItems: 1,
        maxItems: 64,
        uniqueItems: true,
        description: 'Accept documents of these regions only.',
      }),
    ),
    maxAgeSeconds: Type.Optional(
      Type.Integer({
        minimum: 60,
        maximum: MAX_AWS_EC2_MAX_AGE_SECONDS,
        default: DEFAULT_AWS_EC2_MAX_AGE_SECONDS,
        description: "Refuse signatures whose signingTime is older. AWS signs the document when the instance starts.",
      }),
    ),
    clockToleranceSeconds: Type.Optional(
      Type.Integer({ minimum: 0, maximum: MAX_CLOCK_TOLERANCE_SECONDS, default: DEFAULT_CLOCK_TOLERANCE_SECONDS }),
    ),
  },
  { additionalProperties: false },
);

export type AwsEc2InstanceIdentityConfig = Static<typeof awsEc2InstanceIdentityConfigSchema>;

export interface ParsedAwsEc2InstanceIdentityConfig {
  /** DER of each configured certificate, in the configured order. */
  certificates: Uint8Array[];
  accountIds: ReadonlySet<string> | undefined;
  regions: ReadonlySet<string> | undefined;
  maxAgeSeconds: number;
  clockToleranceSeconds: number;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----/g;

/** DER of one PEM certificate holding an RSA key of 2048 bits or more, or the problem. */
function parseCertificate(pem: unknown, index: number): Uint8Array | string {
  const field = `certificates[${index}]`;
  // X509Certificate would silently take the first of several: one certificate per entry.
  if (typeof pem !== 'string' || (pem.match(PEM_CERTIFICATE) ?? []).length !== 1) return `${field} must be exactly one PEM certificate`;
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(pem);
  } catch {
    return `${field} is not a valid PEM certificate`;
  }
  const key = certificate.publicKey;
  if (key.asymmetricKeyType !== 'rsa' || (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_MODULUS_BITS) {
    return `${field} must hold an RSA key of at least ${MIN_RSA_MODULUS_BITS} bits (use the RSA-2048 certificate of the region)`;
  }
  return new Uint8Array(certificate.raw);
}

const isWholeNumberIn = (value: unknown, min: number, max: number): value is number =>
  Number.isInteger(value) && (value as number) >= min && (value as number) <= max;

function stringSet(value: unknown, field: string, pattern: string, issues: string[]): ReadonlySet<string> | undefined {
  if (value === undefined) return undefined;
  const matcher = new RegExp(pattern);
  if (!Array.isArray(value) || value.length === 0 || !value.every((item) => typeof item === 'string' && matcher.test(item))) {
    issues.push(`${field} must be a non-empty list matching ${pattern}`);
    return undefined;
  }
  return new Set(value as string[]);
}

/** Checks a config (schema defaults may be missing) and returns it normalised, or its problems. */
export function parseAwsEc2InstanceIdentityConfig(
  config: AwsEc2InstanceIdentityConfig,
): { config: ParsedAwsEc2InstanceIdentityConfig } | { issues: string[] } {
  const input: Partial<AwsEc2InstanceIdentityConfig> = typeof config === 'object' && config !== null ? config : {};
  const issues: string[] = [];

  const certificates: Uint8Array[] = [];
  if (!Array.isArray(input.certificates) || input.certificates.length === 0) {
    issues.push('certificates must list at least one PEM certificate');
  } else {
    input.certificates.forEach((pem, index) => {
      const parsed = parseCertificate(pem, index);
      if (typeof parsed === 'string') issues.push(parsed);
      else certificates.push(parsed);
    });
  }
  const accountIds = stringSet(input.accountIds, 'accountIds', ACCOUNT_ID_PATTERN, issues);
  const regions = stringSet(input.regions, 'regions', REGION_PATTERN, issues);
  const maxAgeSeconds = input.maxAgeSeconds ?? DEFAULT_AWS_EC2_MAX_AGE_SECONDS;
  if (!isWholeNumberIn(maxAgeSeconds, 60, MAX_AWS_EC2_MAX_AGE_SECONDS)) {
    issues.push(`maxAgeSeconds must be a whole number from 60 to ${MAX_AWS_EC2_MAX_AGE_SECONDS}`);
  }
  const clockToleranceSeconds = input.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
  if (!isWholeNumberIn(clockToleranceSeconds, 0, MAX_CLOCK_TOLERANCE_SECONDS)) {
    issues.push(`clockToleranceSeconds must be a whole number from 0 to ${MAX_CLOCK_TOLERANCE_SECONDS}`);
  }
  if (issues.length > 0) return { issues };
  return { config: { certificates, accountIds, regions, maxAgeSeconds, clockToleranceSeconds } };
}

export function validateAwsEc2InstanceIdentityConfig(config: AwsEc2InstanceIdentityConfig): string[] {
  const parsed = parseAwsEc2InstanceIdentityConfig(config);
  return 'issues' in parsed ? parsed.issues : [];
}
